use proptest::prelude::*;
use pullthrough_policy::json_scan::Scanner;
use serde_json::Value;

use super::super::tests::{BENCH_FIXTURES, bench_fixture, ours as by_tapes, reference};
use super::{PROBE_FROM, read_beside};
use crate::admission::AdmissionReview;

/// The walk's patch, `right` read as the answer's member (followed by more of the answer), and
/// checked to leave the scan just past it, or to leave it where it was.
fn walked(left: &str, right: &str) -> Option<Vec<json_patch::PatchOperation>> {
    let answer = format!(r#"{{"mutated_object":{right},"warnings":null}}"#);
    let start = answer.find(':').expect("a colon") + 1;
    let mut scanner = Scanner::new(&answer, 127);
    scanner.skip(start);
    let patch = read_beside(&mut scanner, 1, left);
    let moved_to = if patch.is_some() {
        start + right.len()
    } else {
        start
    };
    assert_eq!(scanner.at(), moved_to, "{left} -> {right}");
    patch
}

/// The patch as the server makes it: walked, else from the two tapes.
fn ours(left: &str, right: &str) -> Vec<json_patch::PatchOperation> {
    walked(left, right).unwrap_or_else(|| by_tapes(left, right))
}

#[test]
fn the_api_servers_own_text_with_strings_spliced_in_is_walked() {
    for fixture in BENCH_FIXTURES {
        let review = AdmissionReview::from_slice(&bench_fixture(fixture)).expect("a review");
        // Compact, as the API server writes it, and in its member order, not sorted.
        let left = compact(review.request.object_json().expect("an object"));
        let spliced = left.replace(r#""image":""#, r#""image":"m.example.com/"#);
        // And one member more in `metadata`, as the originals annotation is added.
        let added = spliced.replacen(
            r#""metadata":{"#,
            r#""metadata":{"annotations":{"a":"b"},"#,
            1,
        );
        for right in [&left, &spliced, &added] {
            let patch = walked(&left, right).expect("walked");
            assert_eq!(patch, reference(&left, right), "{fixture}");
        }
        assert!(
            !walked(&left, &spliced).expect("walked").is_empty(),
            "{fixture}"
        );
    }
}

/// `text` without the whitespace between its tokens.
fn compact(text: &str) -> String {
    let (mut out, mut quoted, mut escaped) = (String::new(), false, false);
    for c in text.chars() {
        if quoted || !c.is_ascii_whitespace() {
            out.push(c);
        }
        (quoted, escaped) = match c {
            '"' if !escaped => (!quoted, false),
            '\\' if quoted => (quoted, !escaped),
            _ => (quoted, false),
        };
    }
    out
}

#[test]
fn each_kind_of_difference_is_walked_to_the_patch_json_patch_makes() {
    let cases = [
        (r#"{"a":1}"#, r#"{"a":12}"#),
        (r#"{"a":12}"#, r#"{"a":1}"#),
        (r#"{"a":1}"#, r#"{"a":1.0}"#),
        (r#"{"a":"x\u0041"}"#, r#"{"a":"xA"}"#),
        (r#"{"b":1,"a":[1,2]}"#, r#"{"b":2,"a":[1,2,3]}"#),
        (r#"{"b":1,"a":[1,2,3]}"#, r#"{"b":1,"a":[1]}"#),
        (
            r#"{"z":{"y":"1"},"a":{"y":"1"}}"#,
            r#"{"z":{"y":"2"},"a":{"y":"3"}}"#,
        ),
        (r#"{"a":{}}"#, r#"{"a":{"b":null}}"#),
        (r#"{"a":[]}"#, r#"{"a":[[]]}"#),
        (r#"{"a":"x"}"#, r#"{"a":{"b":"x"}}"#),
        (r#"{"a":1,"b":2}"#, r#"{"b":2,"a":1}"#),
        (r#"{"a":1}"#, r#"{ "a" : 1 }"#),
        (
            r#"{"a/b~":"x","c":[0,{"d":"e"}]}"#,
            r#"{"a/b~":"y","c":[0,{"d":"f"}]}"#,
        ),
        ("12", "123"),
        ("[1]", "[1]"),
    ];
    for (left, right) in cases {
        assert_eq!(
            ours(left, right),
            reference(left, right),
            "{left} -> {right}"
        );
    }
}

#[test]
fn a_key_given_twice_where_the_texts_differ_is_left_to_the_tapes() {
    // A Value keeps the last `a`: the first one's change is no change at all.
    let left = r#"{"a":"x","b":1,"a":"y"}"#;
    let right = r#"{"a":"z","b":1,"a":"y"}"#;
    assert_eq!(walked(left, right), None);
    assert_eq!(ours(left, right), reference(left, right));
    assert!(ours(left, right).is_empty());
    // Any key twice in an object that holds a difference, and the object elsewhere.
    let right = r#"{"a":"x","b":2,"a":"y"}"#;
    assert_eq!(walked(left, right), None);
    assert_eq!(ours(left, right), reference(left, right));
    let (left, right) = (r#"[{"a":1,"a":2},3]"#, r#"[{"a":1,"a":2},4]"#);
    assert_eq!(walked(left, right), Some(reference(left, right)));
}

#[test]
fn what_the_tape_refuses_is_left_to_it() {
    for (left, right) in [
        (r#"{"a":"\ud800","b":1}"#, r#"{"a":"\ud800","b":2}"#),
        ("[1e400,1]", "[1e400,2]"),
        (r#"{"a":1}"#, r#"{"a":tru}"#),
        (r#"{"a":1}"#, r#"{"a":2,}"#),
    ] {
        assert_eq!(walked(left, right), None, "{left} -> {right}");
    }
    // In a container far enough before the difference to be skipped ahead, not walked.
    let pad = "p".repeat(PROBE_FROM);
    for inside in [r#""a":"\udc00""#, r#""\ud800":"a""#, r#""a":[1E400]"#] {
        let left = format!(r#"[{{{inside},"pad":"{pad}"}},1]"#);
        let right = format!(r#"[{{{inside},"pad":"{pad}"}},2]"#);
        assert_eq!(walked(&left, &right), None, "{left} -> {right}");
    }
    for (left, right) in [
        (
            format!(r#"[{{"a":"\u0041","pad":"{pad}"}},1]"#),
            format!(r#"[{{"a":"\u0041","pad":"{pad}"}},2]"#),
        ),
        (format!(r#"[["{pad}"],1]"#), format!(r#"[["{pad}"],2]"#)),
        // The same up to a container's last byte: it differs, and is not skipped.
        (format!(r#"[["{pad}"],1]"#), format!(r#"[["{pad}",3],1]"#)),
        (
            format!(r#"[{{"a":"{pad}"}}]"#),
            format!(r#"[{{"a":"{pad}","b":2}}]"#),
        ),
    ] {
        assert_eq!(walked(&left, &right), Some(reference(&left, &right)));
    }
}

/// A document written as text with its members in any order and keys maybe given twice, as the
/// API server's and other writers' objects are: a leaf, an array or an object's members.
#[derive(Debug, Clone)]
enum Doc {
    Leaf(String),
    Array(Vec<Doc>),
    Object(Vec<(String, Doc)>),
}

impl Doc {
    fn write(&self, pretty: bool, out: &mut String) {
        let gap = if pretty { " " } else { "" };
        match self {
            Self::Leaf(text) => out.push_str(text),
            Self::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                        out.push_str(gap);
                    }
                    item.write(pretty, out);
                }
                out.push(']');
            }
            Self::Object(members) => {
                out.push('{');
                for (index, (key, value)) in members.iter().enumerate() {
                    if index > 0 {
                        out.push(',');
                        out.push_str(gap);
                    }
                    out.push_str(&Value::from(key.as_str()).to_string());
                    out.push(':');
                    out.push_str(gap);
                    value.write(pretty, out);
                }
                out.push('}');
            }
        }
    }

    /// Whether any object in it gives a key twice.
    fn has_key_twice(&self) -> bool {
        match self {
            Self::Leaf(_) => false,
            Self::Array(items) => items.iter().any(Self::has_key_twice),
            Self::Object(members) => {
                members
                    .iter()
                    .enumerate()
                    .any(|(index, (key, _))| members[index + 1..].iter().any(|(k, _)| k == key))
                    || members.iter().any(|(_, value)| value.has_key_twice())
            }
        }
    }

    fn text(&self, pretty: bool) -> String {
        let mut out = String::new();
        self.write(pretty, &mut out);
        out
    }

    /// The same document with the `n`th leaf (in text order, wrapping) changed to `to`.
    fn with_leaf(&self, n: &mut usize, to: &Doc) -> Doc {
        match self {
            Self::Leaf(_) if *n == 0 => {
                *n = usize::MAX;
                to.clone()
            }
            Self::Leaf(_) => {
                *n = n.saturating_sub(1);
                self.clone()
            }
            Self::Array(items) => {
                Self::Array(items.iter().map(|item| item.with_leaf(n, to)).collect())
            }
            Self::Object(members) => Self::Object(
                members
                    .iter()
                    .map(|(key, value)| (key.clone(), value.with_leaf(n, to)))
                    .collect(),
            ),
        }
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        (-12i64..12).prop_map(|n| n.to_string()),
        Just("1.5".to_owned()),
        "[a-c/~]{0,3}".prop_map(|s| Value::from(s).to_string()),
        // Long enough that a container holding it is skipped ahead when it is the same.
        (0..PROBE_FROM).prop_map(|n| Value::from("q".repeat(n)).to_string()),
        Just(r#""\u0061b""#.to_owned()),
    ]
    .prop_map(Doc::Leaf);
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Doc::Array),
            // Keys from a small set, in any order, so that some are given twice.
            prop::collection::vec(("[a-e/~]", inner), 0..5).prop_map(Doc::Object),
        ]
    })
}

proptest! {
    #[test]
    fn a_document_with_leaves_spliced_in_gives_the_patch_json_patch_makes(
        left in doc(),
        changes in prop::collection::vec((0usize..40, doc()), 1..4),
        pretty in any::<bool>(),
    ) {
        let mut right = left.clone();
        for (n, to) in &changes {
            right = right.with_leaf(&mut n.clone(), to);
        }
        let twice = left.has_key_twice() || right.has_key_twice();
        let (left, right) = (left.text(pretty), right.text(pretty));
        // Only a key given twice leaves these to the tapes.
        prop_assert!(twice || walked(&left, &right).is_some(), "{} -> {}", left, right);
        prop_assert_eq!(ours(&left, &right), reference(&left, &right));
    }

    #[test]
    fn any_two_documents_give_the_patch_json_patch_makes(
        left in doc(),
        right in doc(),
        pretty in any::<bool>(),
    ) {
        let (left, right) = (left.text(false), right.text(pretty));
        prop_assert_eq!(ours(&left, &right), reference(&left, &right));
    }
}

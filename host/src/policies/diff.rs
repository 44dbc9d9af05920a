//! The JSONPatch from the object the API server sent to the object a guest answered with, read
//! straight from their JSON text.
//!
//! The patch is what `json_patch::diff` makes of the two documents parsed as `serde_json::Value`s
//! (policy-evaluator's patch, so `pullthrough run` prints what `kwctl run` does), operation for
//! operation; the tests hold the two to each other. What differs is the cost: a [`Node`] borrows
//! its strings from the text and keeps an object's members in a sorted `Vec`, where a `Value`
//! allocates every key and string and inserts each member into a `BTreeMap`. On the hot path these
//! two trees were most of the host's JSON work (see BENCHMARKS.md).

use std::borrow::Cow;
use std::fmt;

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::admission::members::Key;

/// A JSON value that borrows its strings from the text it was parsed from where it can (a string
/// with escapes is owned). Object members are sorted by key, with the last of duplicate keys kept,
/// as in a `serde_json::Map`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Parses JSON text.
    pub(crate) fn parse(json: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The same value as a `serde_json::Value` (for the values a patch operation carries).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(s) => Value::String(s.as_ref().to_owned()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, value)| (key.as_ref().to_owned(), value.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

/// The operations that turn `left` into `right`: members of `right` in key order (added, or
/// compared), then members only `left` has (removed); arrays index by index, the longer one's
/// tail added or removed; any other difference replaced whole.
pub(crate) fn diff(left: &Node<'_>, right: &Node<'_>) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    diff_at(left, right, &mut Path::default(), &mut ops);
    ops
}

/// Where the walk is: the keys and indexes from the root, borrowed from the trees. It becomes a
/// JSON pointer only for an operation; building and trimming one at every member visited (with
/// its escaping, and an allocation per index and per step back) was half the diff's cost.
#[derive(Default)]
struct Path<'a>(Vec<Step<'a>>);

#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// `step` appended for the duration of `walk`.
    fn with<R>(&mut self, step: Step<'a>, walk: impl FnOnce(&mut Self) -> R) -> R {
        self.0.push(step);
        let result = walk(self);
        self.0.pop();
        result
    }

    fn pointer(&self) -> PointerBuf {
        PointerBuf::from_tokens(self.0.iter().map(|step| match *step {
            Step::Key(key) => Token::new(key),
            Step::Index(index) => Token::from(index),
        }))
    }
}

fn diff_at<'a>(
    left: &'a Node<'_>,
    right: &'a Node<'_>,
    path: &mut Path<'a>,
    ops: &mut Vec<PatchOperation>,
) {
    match (left, right) {
        (Node::Object(left), Node::Object(right)) => diff_objects(left, right, path, ops),
        (Node::Array(left), Node::Array(right)) => diff_arrays(left, right, path, ops),
        (left, right) if left == right => {}
        (_, right) => ops.push(PatchOperation::Replace(ReplaceOperation {
            path: path.pointer(),
            value: right.to_value(),
        })),
    }
}

fn diff_arrays<'a>(
    left: &'a [Node<'_>],
    right: &'a [Node<'_>],
    path: &mut Path<'a>,
    ops: &mut Vec<PatchOperation>,
) {
    // Every element removed from the end of `left` is removed at the same index: each removal
    // shifts the rest down by one.
    let mut removed = 0;
    for index in 0..left.len().max(right.len()) {
        path.with(Step::Index(index - removed), |path| {
            match (left.get(index), right.get(index)) {
                (Some(left), Some(right)) => diff_at(left, right, path, ops),
                (Some(_), None) => {
                    removed += 1;
                    ops.push(PatchOperation::Remove(RemoveOperation {
                        path: path.pointer(),
                    }));
                }
                (None, Some(right)) => ops.push(PatchOperation::Add(AddOperation {
                    path: path.pointer(),
                    value: right.to_value(),
                })),
                (None, None) => unreachable!("index below the longer array's length"),
            }
        });
    }
}

type Members<'a> = [(Cow<'a, str>, Node<'a>)];

fn diff_objects<'a>(
    left: &'a Members<'_>,
    right: &'a Members<'_>,
    path: &mut Path<'a>,
    ops: &mut Vec<PatchOperation>,
) {
    // Both sorted by key: one merge walk finds each right member's left twin.
    let mut lefts = left.iter().peekable();
    for (key, right_value) in right {
        while lefts.next_if(|(left_key, _)| left_key < key).is_some() {}
        let twin = lefts.next_if(|(left_key, _)| left_key == key);
        path.with(Step::Key(key), |path| match twin {
            Some((_, left_value)) => diff_at(left_value, right_value, path, ops),
            None => ops.push(PatchOperation::Add(AddOperation {
                path: path.pointer(),
                value: right_value.to_value(),
            })),
        });
    }
    let mut rights = right.iter().peekable();
    for (key, _) in left {
        while rights.next_if(|(right_key, _)| right_key < key).is_some() {}
        if rights.next_if(|(right_key, _)| right_key == key).is_none() {
            let path = path.with(Step::Key(key), |path| path.pointer());
            ops.push(PatchOperation::Remove(RemoveOperation { path }));
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Node<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor(std::marker::PhantomData))
    }
}

struct NodeVisitor<'a>(std::marker::PhantomData<Node<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for NodeVisitor<'a> {
    type Value = Node<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        // As serde_json's Value: a float JSON cannot hold is null.
        Ok(Number::from_f64(n).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Node::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Node::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Node::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // serde_json gives no size hint; most arrays of an object (containers, ports, env) are short.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Room for most objects' members without growing (serde_json gives no size hint).
        let mut members: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(8);
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        // The API server writes most objects' keys in struct order, not sorted.
        if !members.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable: of duplicate keys the last stays last, and is the one kept.
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(members.len());
            for member in members {
                match kept.last_mut() {
                    Some(last) if last.0 == member.0 => *last = member,
                    _ => kept.push(member),
                }
            }
            members = kept;
        }
        Ok(Node::Object(members))
    }
}

#[cfg(test)]
mod tests;

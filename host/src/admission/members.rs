//! The members of a JSON object as raw text, read in one pass without building a tree: by the
//! fast scan (`scan.rs`), or by serde_json for what the scan does not take (it gives the error).

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

/// One member of an object: its key and its value's text, checked to be JSON.
pub(crate) type Member<'a> = (Cow<'a, str>, &'a str);

/// An object's members, or what the JSON holds instead ("an array", "null", ...).
pub(crate) type Members<'a> = Result<Vec<Member<'a>>, &'static str>;

/// An object's members with those of its member opened in the same pass (see [`opening`]), or
/// what the JSON holds instead.
pub(crate) type Opened<'a> = Result<(Vec<Member<'a>>, Option<Members<'a>>), &'static str>;

/// A member's value as a string, or empty when it is not one (missing fields and wrong types
/// read the same in the server's logs and checks).
pub(crate) fn string_or_empty(raw: &str) -> String {
    serde_json::from_str::<String>(raw).unwrap_or_default()
}

/// `json` read as an object: its members in the order written, each value as its raw text;
/// `Err` when it is not JSON (or nests too deep), `Ok(Err(what))` when it is JSON but not an
/// object.
pub(crate) fn object_members(json: &str) -> Result<Members<'_>, serde_json::Error> {
    opening(json, "").map(|opened| opened.map(|(members, _)| members))
}

/// [`object_members`], with the last member named `open` read as an object too, in the same
/// pass: `Some` of its members (or of what it holds instead) when there is such a member. It is
/// not among the members returned.
pub(crate) fn opening<'a>(json: &'a str, open: &str) -> Result<Opened<'a>, serde_json::Error> {
    match super::scan::opening(json, open) {
        Some((members, opened)) => Ok(Ok((members, opened.map(Ok)))),
        None => read_by_serde(json, open),
    }
}

/// [`opening`] by serde_json, each value read as a `RawValue`: the reference the scan is held to,
/// and the reader of what the scan does not take.
pub(super) fn read_by_serde<'a>(
    json: &'a str,
    open: &str,
) -> Result<Opened<'a>, serde_json::Error> {
    check_depth(json.as_bytes())?;
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let opened = Opener { open }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(opened)
}

/// Reads an object's members, opening the member named `open`; anything else is named.
struct Opener<'k> {
    open: &'k str,
}

impl<'de, 'k> DeserializeSeed<'de> for Opener<'k> {
    type Value = Opened<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, 'k> Visitor<'de> for Opener<'k> {
    type Value = Opened<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(16);
        let mut opened = None;
        while let Some(Key(key)) = map.next_key()? {
            if !self.open.is_empty() && key == self.open {
                let inner = map.next_value_seed(Opener { open: "" })?;
                opened = Some(inner.map(|(members, _)| members));
            } else {
                let raw: &RawValue = map.next_value()?;
                members.push((key, raw.get()));
            }
        }
        Ok(Ok((members, opened)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err("an array"))
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Err("null"))
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err("a boolean"))
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err("a string"))
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err("a number"))
    }
}

/// How deep arrays and objects may nest: serde_json's limit when it parses a tree. Raw values are
/// read without one (serde_json skips them without recursing), and the guest and the patch parse
/// them as trees later, so the limit is checked here, once, for the whole text.
pub(crate) const MAX_DEPTH: usize = 127;

/// Refuses JSON that nests arrays and objects deeper than [`MAX_DEPTH`]. Only brackets outside
/// strings count; the text is not otherwise checked (serde_json does that).
fn check_depth(json: &[u8]) -> Result<(), serde_json::Error> {
    let mut depth = 0usize;
    let mut at = 0;
    while let Some(&byte) = json.get(at) {
        match byte {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(serde_json::Error::custom(format!(
                        "arrays and objects nested deeper than {MAX_DEPTH} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                // To the closing quote: the next quote not escaped by an odd run of backslashes.
                loop {
                    let Some(offset) = memchr::memchr2(b'"', b'\\', &json[at + 1..]) else {
                        return Ok(());
                    };
                    at += 1 + offset;
                    if json[at] == b'"' {
                        break;
                    }
                    at += 1;
                }
            }
            _ => {}
        }
        at += 1;
    }
    Ok(())
}

/// An object key, borrowed from the text unless it has escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<Key<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor(std::marker::PhantomData))
    }
}

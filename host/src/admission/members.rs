//! The members of a JSON object as raw text, read without building a tree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON object's members in the order written, each value as its raw text, in one pass over
/// `json`; `Err` when `json` is not JSON, and `Ok(Err(what))` when it is JSON but not an object.
pub(crate) fn object_members(
    json: &[u8],
) -> Result<Result<Vec<Member<'_>>, &'static str>, serde_json::Error> {
    check_depth(json)?;
    if first_byte(json) != Some(b'{') {
        // Not an object, but it must still be JSON.
        serde_json::from_slice::<&RawValue>(json)?;
        return Ok(Err(json_type(json)));
    }
    serde_json::from_slice::<Members<'_>>(json).map(|members| Ok(members.0))
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

/// One member of an object: its key and its value's text.
pub(crate) type Member<'a> = (Cow<'a, str>, &'a RawValue);

fn first_byte(json: &[u8]) -> Option<u8> {
    json.iter()
        .copied()
        .find(|byte| !byte.is_ascii_whitespace())
}

/// What a JSON text holds, for messages: "an object", "a string", ...
pub(crate) fn json_type(json: &[u8]) -> &'static str {
    match first_byte(json) {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

struct Members<'a>(Vec<Member<'a>>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
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

//! The object kept as the text it came in: in one pass over the payload, the members the rewrite
//! reads are built as a tree, and where each of them lies in the text is noted.
//!
//! The guest answers with the whole object. Built as a tree and written back, every byte of it
//! is read and written one value at a time; kept as text, it is scanned ([`Scanner`], strings
//! eight bytes at a time), only the members on the way to the images are built, and the answer is
//! the text with the few edits spliced in (`mutate/splice.rs`). Of duplicate members the last
//! counts, in the tree and in the places alike, as in serde_json's `Value`.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::json_scan::Scanner;
use crate::mutate::GroupVersionKind;
use crate::settings::Settings;

/// How deep arrays and objects may nest, the payload counted as 1. Deeper text is not read here
/// (`None`), and the caller reads it with serde_json, which gives its own error.
const MAX_DEPTH: usize = 127;

/// Members built on the way to each image: the names `skeleton.rs` keeps for an `oldObject`.
fn is_kept(key: &str) -> bool {
    crate::skeleton::KEPT.contains(&key)
}

/// Members built whole: the opt-out and mirror-pod markers, the originals annotation and its
/// size limit, and the pull secrets a spec already names.
fn is_whole(key: &str) -> bool {
    matches!(key, "labels" | "annotations" | "imagePullSecrets")
}

/// A `validate` payload read with its object kept as text.
pub(crate) struct Payload<'a> {
    pub(crate) settings: Settings,
    pub(crate) kind: String,
    pub(crate) operation: String,
    pub(crate) sub_resource: String,
    pub(crate) object: ObjectText<'a>,
    /// The `oldObject`'s kept members (an UPDATE's), `null` when there is none.
    pub(crate) old_object: Value,
}

/// An object's kept members as a tree, and their places in the text that holds it.
pub(crate) struct ObjectText<'a> {
    /// The payload; `places.at` is the object's range in it.
    pub(crate) text: &'a str,
    pub(crate) skeleton: Value,
    pub(crate) places: Place<'a>,
}

/// Reads `{"settings": …, "request": …}` as serde_json reads it into the guest's payload type,
/// or `None` for anything that type would refuse or this read does not take (a field given twice,
/// nesting past [`MAX_DEPTH`]): the caller then reads it with serde_json.
pub(crate) fn payload(text: &str) -> Option<Payload<'_>> {
    let mut scanner = Scanner::new(text, MAX_DEPTH);
    scanner.whitespace();
    let mut settings = None;
    let mut request = None;
    scanner.members(0, |scanner, key| match key.as_ref() {
        "settings" => once(&mut settings, scanner.parse(1)?),
        "request" => once(&mut request, read_request(scanner)?),
        _ => scanner.value(1),
    })?;
    if !scanner.end() {
        return None;
    }
    let (kind, operation, sub_resource, object, old_object) = request?;
    Some(Payload {
        settings: settings.unwrap_or_default(),
        kind,
        operation,
        sub_resource,
        object,
        old_object,
    })
}

type Request<'a> = (String, String, String, ObjectText<'a>, Value);

/// The request's members the rewrite reads, each absent or `null` one empty.
fn read_request<'a>(scanner: &mut Scanner<'a>) -> Option<Request<'a>> {
    let mut kind: Option<Option<GroupVersionKind>> = None;
    let mut operation: Option<Option<String>> = None;
    let mut sub_resource: Option<Option<String>> = None;
    let mut object = None;
    let mut old_object = None;
    scanner.members(1, |scanner, key| match key.as_ref() {
        "kind" => once(&mut kind, scanner.parse(2)?),
        "operation" => once(&mut operation, scanner.parse(2)?),
        "subResource" => once(&mut sub_resource, scanner.parse(2)?),
        "object" => once(&mut object, kept(scanner, 2, false)?),
        "oldObject" => once(&mut old_object, kept(scanner, 2, false)?.0),
        _ => scanner.value(2),
    })?;
    let object = match object {
        Some((skeleton, places)) => ObjectText {
            text: scanner.text(),
            skeleton,
            places,
        },
        None => ObjectText {
            text: "null",
            skeleton: Value::Null,
            places: Place::leaf(0.."null".len()),
        },
    };
    Some((
        kind.flatten().unwrap_or_default().kind,
        operation.flatten().unwrap_or_default(),
        sub_resource.flatten().unwrap_or_default(),
        object,
        old_object.unwrap_or(Value::Null),
    ))
}

/// Sets a field read once; a second time, serde_json would refuse the payload.
fn once<T>(field: &mut Option<T>, value: T) -> Option<()> {
    field.is_none().then(|| *field = Some(value))
}

/// Where a kept value lies in the text, and where its kept members or elements do.
#[derive(Debug)]
pub(crate) struct Place<'a> {
    pub(crate) at: Range<usize>,
    inner: Inner<'a>,
}

#[derive(Debug)]
enum Inner<'a> {
    Leaf,
    Members(Vec<(Cow<'a, str>, Place<'a>)>),
    Items(Vec<Place<'a>>),
}

/// One step of a path into the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'p> {
    Key(&'p str),
    Index(usize),
}

impl<'a> Place<'a> {
    fn leaf(at: Range<usize>) -> Self {
        Self {
            at,
            inner: Inner::Leaf,
        }
    }

    /// The place of the kept value at `path` below this one, the last of duplicate members.
    pub(crate) fn find(&self, path: &[Step<'_>]) -> Option<&Place<'a>> {
        path.iter()
            .try_fold(self, |place, step| match (&place.inner, step) {
                (Inner::Members(members), Step::Key(key)) => members
                    .iter()
                    .rev()
                    .find(|(name, _)| name == key)
                    .map(|(_, place)| place),
                (Inner::Items(items), Step::Index(index)) => items.get(*index),
                _ => None,
            })
    }
}

/// The value at the scan with only the kept and whole members of its objects (all of them
/// inside a whole one, or when `whole`), and the places of what it keeps.
fn kept<'a>(scanner: &mut Scanner<'a>, depth: usize, whole: bool) -> Option<(Value, Place<'a>)> {
    let start = scanner.at();
    let (value, inner) = match scanner.peek()? {
        b'{' => {
            let mut tree = Map::new();
            let mut places = Vec::new();
            scanner.members(depth, |scanner, key| {
                let whole = whole || is_whole(&key);
                if !whole && !is_kept(&key) {
                    return scanner.value(depth + 1);
                }
                let (value, place) = kept(scanner, depth + 1, whole)?;
                tree.insert(key.clone().into_owned(), value);
                places.push((key, place));
                Some(())
            })?;
            (Value::Object(tree), Inner::Members(places))
        }
        b'[' => {
            let mut tree = Vec::new();
            let mut places = Vec::new();
            scanner.items(depth, |scanner, _| {
                let (value, place) = kept(scanner, depth + 1, whole)?;
                tree.push(value);
                places.push(place);
                Some(())
            })?;
            (Value::Array(tree), Inner::Items(places))
        }
        b'"' => {
            let text = scanner.decoded_string()?.into_owned();
            (Value::String(text), Inner::Leaf)
        }
        _ => (scanner.parse(depth)?, Inner::Leaf),
    };
    let place = Place {
        at: start..scanner.at(),
        inner,
    };
    Some((value, place))
}

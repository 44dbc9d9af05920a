//! One JSON document read as a flat list of where each of its values lies in the text, with the
//! keys of object members: enough to compare two documents part by part without building either.
//!
//! The read accepts only what serde_json reads as a `Value` the same way: the scan
//! ([`Scanner`]) checks the grammar as serde_json's `ignore_value` does, and the two things a
//! `Value` refuses beyond that are checked here. A string with escapes is decoded by serde_json
//! (a lone surrogate is refused), and so is a number with an exponent or over 20 characters (it may
//! be out of an `f64`'s range). Anything else returns `None`, and the caller reads the text as a
//! `Value` instead, which gives the error.

use std::borrow::Cow;

use pullthrough_policy::json_scan::Scanner;
use serde_json::Value;

/// How deep arrays and objects may nest, the document counted as 1: serde_json's limit for a
/// `Value`.
const MAX_DEPTH: usize = 127;

/// A document's values in the order they are written, each container before its elements.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tape<'a> {
    text: &'a str,
    entries: Vec<Entry<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Object,
    Array,
    Scalar,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry<'a> {
    /// The member's key; empty for an array's element and for the document.
    key: Cow<'a, str>,
    kind: Kind,
    start: usize,
    end: usize,
    /// The index of the entry after this value and everything inside it.
    next: usize,
}

impl<'a> Tape<'a> {
    /// `text` read as one JSON value with whitespace around it, or `None` (see the module's doc).
    #[cfg(test)]
    pub(crate) fn read(text: &'a str) -> Option<Self> {
        Self::read_nested(text, 0, None)
    }

    /// [`Self::read`] of a value that `depth` arrays and objects will enclose, so that it nests as
    /// deep as it can there, with a `twin` (see [`Self::read_at`]).
    pub(crate) fn read_nested(
        text: &'a str,
        depth: usize,
        twin: Option<&Tape<'a>>,
    ) -> Option<Self> {
        let mut scanner = Scanner::new(text, MAX_DEPTH);
        scanner.whitespace();
        let tape = Self::read_at(&mut scanner, depth, twin)?;
        scanner.end().then_some(tape)
    }

    /// The value at the scan, which `depth` arrays and objects enclose, read to just past its end.
    /// With a `twin`, a document read before that this one is expected to be much like (the
    /// object a guest answered with, beside the one it was sent): where a value's text is the
    /// twin's at the same place, byte for byte, its entries are the twin's, copied instead of
    /// read. The twin must nest no deeper than this value's `depth` allows.
    pub(crate) fn read_at(
        scanner: &mut Scanner<'a>,
        depth: usize,
        twin: Option<&Tape<'a>>,
    ) -> Option<Self> {
        // A container has about as many values as its twin, or one in every 15 to 27 bytes of
        // compact Kubernetes JSON at most to the text's end: room without growing. A scalar is one.
        let room = match scanner.peek() {
            Some(b'{' | b'[') => {
                twin.map_or((scanner.text().len() - scanner.at()) / 8, |twin| {
                    twin.entries.len()
                }) + 8
            }
            _ => 1,
        };
        let mut tape = Self {
            text: scanner.text(),
            entries: Vec::with_capacity(room),
        };
        let twin = twin.map(|twin| (twin, Self::ROOT));
        tape.value(scanner, depth, Cow::Borrowed(""), twin)?;
        Some(tape)
    }

    fn value(
        &mut self,
        scanner: &mut Scanner<'a>,
        depth: usize,
        key: Cow<'a, str>,
        twin: Option<(&Tape<'a>, usize)>,
    ) -> Option<()> {
        if let Some((twin, at)) = twin
            && self.copy(scanner, twin, at)
        {
            return Some(());
        }
        let index = self.entries.len();
        let start = scanner.at();
        let kind = match scanner.peek()? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            _ => Kind::Scalar,
        };
        self.entries.push(Entry {
            key,
            kind,
            start,
            end: start,
            next: index + 1,
        });
        // The twin's members in the order written, looked for in step with this object's.
        let mut twins = twin
            .filter(|(twin, at)| twin.kind(*at) == kind)
            .map(|(twin, at)| (twin, twin.children(at)));
        match kind {
            Kind::Object => scanner.members(depth, |scanner, key| {
                let twin = twins.as_mut().and_then(|(twin, members)| {
                    // Past members only this object has, and those only the twin has.
                    let mut ahead = members.clone();
                    let found = ahead.find(|&member| twin.key(member) == key)?;
                    *members = ahead;
                    Some((*twin, found))
                });
                self.value(scanner, depth + 1, key, twin)
            })?,
            Kind::Array => scanner.items(depth, |scanner, _| {
                let twin = twins
                    .as_mut()
                    .and_then(|(twin, items)| Some((*twin, items.next()?)));
                self.value(scanner, depth + 1, Cow::Borrowed(""), twin)
            })?,
            Kind::Scalar => scalar(scanner, depth)?,
        }
        let next = self.entries.len();
        let entry = &mut self.entries[index];
        entry.end = scanner.at();
        entry.next = next;
        Some(())
    }

    /// Copies the entries of the twin's value at `at` when the text at the scan starts with that
    /// value's text and the value ends there too, and moves the scan past it; `false` otherwise.
    fn copy(&mut self, scanner: &mut Scanner<'a>, twin: &Tape<'a>, at: usize) -> bool {
        let text = twin.text(at);
        let start = scanner.at();
        let rest = &scanner.text().as_bytes()[start..];
        if !rest.starts_with(text.as_bytes()) {
            return false;
        }
        // Strings, arrays and objects end at their last byte; a number may go on (`1` and `12`).
        if let Some(b'-' | b'0'..=b'9') = text.bytes().next()
            && let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = rest.get(text.len())
        {
            return false;
        }
        let (first, past) = (at, twin.entries[at].next);
        let base = self.entries.len();
        let from = twin.entries[at].start;
        self.entries
            .extend(twin.entries[first..past].iter().map(|entry| Entry {
                key: entry.key.clone(),
                kind: entry.kind,
                start: entry.start - from + start,
                end: entry.end - from + start,
                next: entry.next - first + base,
            }));
        scanner.skip(text.len());
        true
    }

    /// The document's own value.
    pub(super) const ROOT: usize = 0;

    /// The whole document, parsed.
    pub(crate) fn to_value(&self) -> Value {
        self.value_at(Self::ROOT)
    }

    pub(super) fn kind(&self, at: usize) -> Kind {
        self.entries[at].kind
    }

    pub(super) fn key(&self, at: usize) -> &str {
        &self.entries[at].key
    }

    /// The value's text as written.
    pub(super) fn text(&self, at: usize) -> &'a str {
        let entry = &self.entries[at];
        &self.text[entry.start..entry.end]
    }

    /// The value, parsed.
    pub(super) fn value_at(&self, at: usize) -> Value {
        serde_json::from_str(self.text(at)).expect("a value the tape read parses as a Value")
    }

    /// The elements of the array or members of the object at `at`, in the order written.
    pub(super) fn children(&self, at: usize) -> impl Iterator<Item = usize> + Clone + '_ {
        let end = self.entries[at].next;
        let first = (at + 1 < end).then_some(at + 1);
        std::iter::successors(first, move |&child| {
            let next = self.entries[child].next;
            (next < end).then_some(next)
        })
    }
}

/// The number, string or literal at the scan, to just past its end.
pub(super) fn scalar(scanner: &mut Scanner<'_>, depth: usize) -> Option<()> {
    if scanner.peek()? == b'"' {
        // Decoded by serde_json when it has escapes, so that a lone surrogate is refused.
        return scanner.decoded_string().map(drop);
    }
    let text = scanner.raw(depth)?;
    let exotic = text.len() > 20 || text.bytes().any(|b| b == b'e' || b == b'E');
    // Digits and `.` only below 21 characters: well inside an f64 (and `true`, `false`, `null`).
    if exotic && !text.starts_with(['t', 'f', 'n']) {
        serde_json::from_str::<Value>(text).ok()?;
    }
    Some(())
}

#[cfg(test)]
mod tests;

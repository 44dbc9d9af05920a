//! The fast read of an AdmissionReview's members: one pass over the text that checks it is JSON
//! and finds where each member's value starts and ends, without building anything.
//!
//! serde_json reading each value as a `RawValue` checks and skips it too, but one string at a time
//! through its generic reader (`ignore_value`, `skip_to_escape`), after a separate pass for the
//! depth limit: about 76,000 of the host's 405,000 instructions per admission of the bench's Pod
//! review. Here the policy crate's scanner (`json_scan`, which the guest also reads its object
//! with) skips a string eight bytes at a time, indentation too, and counts the depth on the way:
//! about 38,000 (BENCHMARKS.md, "The review read by a scan of our own").
//!
//! The scanner accepts exactly what serde_json accepts when skipping a value. Anything it does
//! not accept, or any shape it does not read (a document or
//! `open` member that is not an object), is handed back as `None`: `members::opening` then reads
//! the text with serde_json, which gives the exact error or the other shape. The tests hold the
//! two to each other on generated and damaged documents.

use pullthrough_policy::json_scan::Scanner;

use super::members::{MAX_DEPTH, Member};

/// An object's members, with those of its member named `open` (when it is an object), or `None`
/// when the text is anything but an object of that shape in valid JSON.
pub(super) type Scanned<'a> = Option<(Vec<Member<'a>>, Option<Vec<Member<'a>>>)>;

/// Reads `json` as an object, opening its last member named `open` (unless `open` is empty).
pub(super) fn opening<'a>(json: &'a str, open: &str) -> Scanned<'a> {
    let mut scanner = Scanner::new(json, MAX_DEPTH);
    scanner.whitespace();
    let mut opened = None;
    let members = object_members(&mut scanner, 0, |scanner, key| {
        if open.is_empty() || key != open {
            return Some(false);
        }
        opened = Some(object_members(scanner, 1, |_, _| Some(false))?);
        Some(true)
    })?;
    scanner.end().then_some((members, opened))
}

/// The members of the object at the scan, which `depth` arrays and objects enclose. A member for
/// which `take` answers `true` has been read by it and is not listed.
fn object_members<'a>(
    scanner: &mut Scanner<'a>,
    depth: usize,
    mut take: impl FnMut(&mut Scanner<'a>, &str) -> Option<bool>,
) -> Option<Vec<Member<'a>>> {
    let mut members = Vec::with_capacity(16);
    scanner.members(depth, |scanner, key| {
        if !take(scanner, &key)? {
            members.push((key, scanner.raw(depth + 1)?));
        }
        Some(())
    })?;
    Some(members)
}

#[cfg(test)]
mod tests;

//! The patch found by walking the object a guest was sent beside its answer, as text, with no
//! tape of either where the two are the same.
//!
//! The bundled policy answers with the sent text with a few strings spliced in. The walk scans
//! the sent object once, with the checks its tape makes (grammar, lone surrogates, numbers out of
//! range), keeping the path to where it is; a container that ends well before the next difference
//! is skipped at the scanner's pace instead ([`Scanner::value_within`]). The answer is compared
//! with the sent text byte for byte from the same place on: up to the first byte that differs it
//! is the sent text, so it is neither scanned nor read. The smallest value that holds a difference (a string or number; an object or array
//! whose members differ in number, key or place) is read as a tape on both sides and diffed as
//! [`super::diff`] does, and the comparison goes on after it. Those values' patches, put in
//! json_patch's order (keys sorted, indexes in order), are the patch.
//!
//! What the walk does not decide it leaves to the tapes (`None`, the answer's scan not moved): a
//! key given twice in an object that holds a difference (a `Value` keeps the last, and the walk
//! would have compared each), or text a tape refuses.

use std::borrow::Cow;

use json_patch::PatchOperation;
use pullthrough_policy::json_scan::{Scanner, Within};

use super::tape::scalar;
use super::{Step, Tape, diff_under};

/// How deep either document may nest, as the tapes and the answer's scan count it.
const MAX_DEPTH: usize = 127;

/// How far the next difference must be for a container to be skipped ahead: a nearer one would
/// gain little, and most often holds the difference, so its skip would be given up and walked.
const PROBE_FROM: usize = 192;

/// The patch from `sent` to the value at `answer`'s scan, which `depth` arrays and objects
/// enclose, with the scan moved just past that value; `None` (the scan not moved) for what the
/// walk leaves to the tapes. `sent` is one JSON value with no whitespace around it.
pub(crate) fn read_beside<'a>(
    answer: &mut Scanner<'a>,
    depth: usize,
    sent: &'a str,
) -> Option<Vec<PatchOperation>> {
    let mut walk = Walk {
        sent,
        answer: answer.text(),
        shift: answer.at() as isize,
        next: 0,
        path: Vec::with_capacity(16),
        keys: Vec::with_capacity(64),
        units: Vec::new(),
        restart: false,
    };
    walk.next = walk.first_difference(0);
    let mut scanner = Scanner::new(sent, MAX_DEPTH);
    walk.value(&mut scanner, depth)?;
    if scanner.at() != sent.len() {
        return None;
    }
    let end = walk.answer_at(sent.len());
    answer.skip(end - answer.at());
    // Text order is the API server's member order; json_patch goes by sorted keys.
    walk.units.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Some(walk.units.into_iter().flat_map(|(_, ops)| ops).collect())
}

/// One step of the path to where the walk is, its key borrowed from the sent text.
enum PathStep<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// A step of a difference's path, kept: ordered as json_patch visits (keys as strings, indexes
/// as numbers; the two never meet at one place).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Owned {
    Key(String),
    Index(usize),
}

struct Walk<'a> {
    sent: &'a str,
    answer: &'a str,
    /// Where a place in `sent` is in `answer`: add this.
    shift: isize,
    /// The first place in `sent`, at or after the walk's, whose byte the answer does not repeat
    /// there (or `sent`'s end).
    next: usize,
    path: Vec<PathStep<'a>>,
    /// The keys of every object the walk is in, outermost first.
    keys: Vec<Cow<'a, str>>,
    /// Each value that differs: its path and its patch.
    units: Vec<(Vec<Owned>, Vec<PatchOperation>)>,
    /// Set, with `None` returned, when a container's own text differs.
    restart: bool,
}

impl<'a> Walk<'a> {
    fn answer_at(&self, at: usize) -> usize {
        (at as isize + self.shift) as usize
    }

    /// The first place at or after `from` where the answer differs from `sent`, eight bytes at a
    /// time; `sent`'s length when it does not (the answer may go on past it).
    fn first_difference(&self, from: usize) -> usize {
        let left = &self.sent.as_bytes()[from..];
        let right = self
            .answer
            .as_bytes()
            .get(self.answer_at(from)..)
            .unwrap_or_default();
        let common = left.len().min(right.len());
        let word = |bytes: &[u8], at: usize| {
            u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
        };
        let mut at = 0;
        while at + 8 <= common {
            let differ = word(left, at) ^ word(right, at);
            if differ != 0 {
                return from + at + differ.trailing_zeros() as usize / 8;
            }
            at += 8;
        }
        while at < common && left[at] == right[at] {
            at += 1;
        }
        from + at
    }

    /// Walks the sent value at the scan, which `depth` containers enclose, to just past its end.
    fn value(&mut self, scanner: &mut Scanner<'a>, depth: usize) -> Option<()> {
        let at = scanner.at();
        if self.next > at {
            match scanner.peek()? {
                b'{' => return self.container(scanner, depth, true),
                b'[' => return self.container(scanner, depth, false),
                first => {
                    scalar(scanner, depth)?;
                    let end = scanner.at();
                    // A number the answer goes on with (`1` and `12`) is not the same.
                    let goes_on = matches!(first, b'-' | b'0'..=b'9')
                        && matches!(
                            self.answer.as_bytes().get(self.answer_at(end)),
                            Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                        );
                    if end < self.next || (end == self.next && !goes_on) {
                        return Some(());
                    }
                }
            }
        }
        self.unit(scanner, at, depth)
    }

    /// Walks the object or array at the scan into its members or elements; when its own text
    /// differs, it is one value that differs.
    fn container(&mut self, scanner: &mut Scanner<'a>, depth: usize, object: bool) -> Option<()> {
        let at = scanner.at();
        // One that ends before the next difference is the same on both sides: skipped at the
        // scan's pace, given up at the difference (and walked) otherwise. A string with escapes
        // or an unusual number in it is walked, for the tape's checks.
        let mut ahead = scanner.clone();
        if self.next - at > PROBE_FROM
            && ahead.value_within(depth, self.next) == Some(Within::Ended { plain: true })
            && ahead.at() <= self.next
        {
            *scanner = ahead;
            return Some(());
        }
        let (shift, next, units, keys) = (self.shift, self.next, self.units.len(), self.keys.len());
        let walked = if object {
            scanner.members(depth, |scanner, key| {
                if self.next < scanner.at() {
                    self.restart = true;
                    return None;
                }
                self.keys.push(key.clone());
                self.path.push(PathStep::Key(key));
                let walked = self.value(scanner, depth + 1);
                self.path.pop();
                walked
            })
        } else {
            scanner.items(depth, |scanner, index| {
                if self.next < scanner.at() {
                    self.restart = true;
                    return None;
                }
                self.path.push(PathStep::Index(index));
                let walked = self.value(scanner, depth + 1);
                self.path.pop();
                walked
            })
        };
        match walked {
            Some(()) if self.next >= scanner.at() => {
                // A Value keeps the last of a key given twice; the walk compared each.
                if self.units.len() > units && has_duplicate(&self.keys[keys..]) {
                    return None;
                }
                self.keys.truncate(keys);
                return Some(());
            }
            Some(()) => {}
            None if std::mem::take(&mut self.restart) => {}
            None => return None,
        }
        (self.shift, self.next) = (shift, next);
        self.units.truncate(units);
        self.keys.truncate(keys);
        self.unit(scanner, at, depth)
    }

    /// The value at `at` in `sent`, and the answer's at the same place, read as tapes and diffed;
    /// the scan moved past the sent one and the comparison started again after both.
    fn unit(&mut self, scanner: &mut Scanner<'a>, at: usize, depth: usize) -> Option<()> {
        let mut left_scan = Scanner::new(self.sent, MAX_DEPTH);
        left_scan.skip(at);
        let left = Tape::read_at(&mut left_scan, depth, None)?;
        let mut right_scan = Scanner::new(self.answer, MAX_DEPTH);
        right_scan.skip(self.answer_at(at));
        let right = Tape::read_at(&mut right_scan, depth, Some(&left))?;
        let steps: Vec<Step<'_>> = self
            .path
            .iter()
            .map(|step| match step {
                PathStep::Key(key) => Step::Key(key),
                PathStep::Index(index) => Step::Index(*index),
            })
            .collect();
        let mut ops = Vec::new();
        diff_under(&steps, &left, &right, &mut ops);
        if !ops.is_empty() {
            let path = self
                .path
                .iter()
                .map(|step| match step {
                    PathStep::Key(key) => Owned::Key(key.as_ref().to_owned()),
                    PathStep::Index(index) => Owned::Index(*index),
                })
                .collect();
            self.units.push((path, ops));
        }
        self.shift = right_scan.at() as isize - left_scan.at() as isize;
        *scanner = left_scan;
        self.next = self.first_difference(scanner.at());
        Some(())
    }
}

/// Whether a key is given twice.
fn has_duplicate(keys: &[Cow<'_, str>]) -> bool {
    if keys.len() <= 16 {
        return keys
            .iter()
            .enumerate()
            .any(|(index, key)| keys[index + 1..].contains(key));
    }
    let mut sorted: Vec<&str> = keys.iter().map(Cow::as_ref).collect();
    sorted.sort_unstable();
    sorted.windows(2).any(|pair| pair[0] == pair[1])
}

#[cfg(test)]
mod tests;

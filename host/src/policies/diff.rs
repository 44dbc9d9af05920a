//! The JSONPatch from the object the API server sent to the object a guest answered with, read
//! straight from their JSON text.
//!
//! The patch is what `json_patch::diff` makes of the two documents parsed as `serde_json::Value`s
//! (policy-evaluator's patch, so `pullthrough run` prints what `kwctl run` does), operation for
//! operation; the tests hold the two to each other. What differs is the cost. Each document is
//! read once as a [`Tape`] (where each value lies in the text), and two values whose text is the
//! same byte for byte are equal without being looked into: the bundled policy answers with the
//! API server's own text with a few strings changed, so the walk goes down only the few paths to
//! them, and parses only what it puts in an operation. A text the tape does not read is parsed as
//! a `Value` and handed to `json_patch::diff` itself. Before the tapes, [`read_beside`]
//! (`text.rs`) tries a walk that reads tapes only of the values that differ.

mod tape;
mod text;

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
use tape::Kind;
pub(crate) use tape::Tape;
pub(crate) use text::read_beside;

/// The operations that turn `left` into `right`: members of `right` in key order (added, or
/// compared), then members only `left` has (removed); arrays index by index, the longer one's
/// tail added or removed; any other difference replaced whole.
pub(crate) fn diff(left: &Tape<'_>, right: &Tape<'_>) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    let sides = Sides { left, right };
    sides.diff_at(Tape::ROOT, Tape::ROOT, &mut Path::default(), &mut ops);
    ops
}

/// The operations that turn the value `left` into `right`, both at `path`, appended to `ops`.
fn diff_under(path: &[Step<'_>], left: &Tape<'_>, right: &Tape<'_>, ops: &mut Vec<PatchOperation>) {
    let sides = Sides { left, right };
    sides.diff_at(Tape::ROOT, Tape::ROOT, &mut Path(path.to_vec()), ops);
}

/// Where the walk is: the keys and indexes from the root, borrowed from the tapes. It becomes a
/// JSON pointer only for an operation; building and trimming one at every member visited (with
/// its escaping, and an allocation per index and per step back) was half the diff's cost.
struct Path<'a>(Vec<Step<'a>>);

impl Default for Path<'_> {
    /// Room for a container's image, ten steps down in a CronJob, without growing.
    fn default() -> Self {
        Self(Vec::with_capacity(16))
    }
}

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

/// The two documents, walked together; a value is its index in its side's tape.
struct Sides<'t, 'a> {
    left: &'t Tape<'a>,
    right: &'t Tape<'a>,
}

impl<'t, 'a> Sides<'t, 'a> {
    fn diff_at(
        &self,
        left: usize,
        right: usize,
        path: &mut Path<'t>,
        ops: &mut Vec<PatchOperation>,
    ) {
        // The same text is the same value; different text may still be (whitespace, escapes,
        // member order, `1.0` against `1.00`), which the walk below finds out.
        if self.left.text(left) == self.right.text(right) {
            return;
        }
        match (self.left.kind(left), self.right.kind(right)) {
            (Kind::Object, Kind::Object) => self.diff_objects(left, right, path, ops),
            (Kind::Array, Kind::Array) => self.diff_arrays(left, right, path, ops),
            (Kind::Scalar, Kind::Scalar)
                if self.left.value_at(left) == self.right.value_at(right) => {}
            _ => ops.push(PatchOperation::Replace(ReplaceOperation {
                path: path.pointer(),
                value: self.right.value_at(right),
            })),
        }
    }

    fn diff_arrays(
        &self,
        left: usize,
        right: usize,
        path: &mut Path<'t>,
        ops: &mut Vec<PatchOperation>,
    ) {
        let mut lefts = self.left.children(left);
        let mut rights = self.right.children(right);
        // Every element removed from the end of `left` is removed at the same index: each removal
        // shifts the rest down by one.
        let mut index = 0;
        loop {
            let (left, right) = (lefts.next(), rights.next());
            if left.is_none() && right.is_none() {
                return;
            }
            path.with(Step::Index(index), |path| match (left, right) {
                (Some(left), Some(right)) => self.diff_at(left, right, path, ops),
                (Some(_), None) => ops.push(PatchOperation::Remove(RemoveOperation {
                    path: path.pointer(),
                })),
                (None, Some(right)) => ops.push(PatchOperation::Add(AddOperation {
                    path: path.pointer(),
                    value: self.right.value_at(right),
                })),
                (None, None) => unreachable!("returned above"),
            });
            if right.is_some() {
                index += 1;
            }
        }
    }

    fn diff_objects(
        &self,
        left: usize,
        right: usize,
        path: &mut Path<'t>,
        ops: &mut Vec<PatchOperation>,
    ) {
        let left_members = members(self.left, left);
        let right_members = members(self.right, right);
        // Both sorted by key: one merge walk finds each right member's left twin.
        let mut lefts = left_members.iter().peekable();
        for &(key, right) in &right_members {
            while lefts.next_if(|(left_key, _)| *left_key < key).is_some() {}
            let twin = lefts.next_if(|(left_key, _)| *left_key == key);
            path.with(Step::Key(key), |path| match twin {
                Some(&(_, left)) => self.diff_at(left, right, path, ops),
                None => ops.push(PatchOperation::Add(AddOperation {
                    path: path.pointer(),
                    value: self.right.value_at(right),
                })),
            });
        }
        let mut rights = right_members.iter().peekable();
        for &(key, _) in &left_members {
            while rights.next_if(|(right_key, _)| *right_key < key).is_some() {}
            if rights.next_if(|(right_key, _)| *right_key == key).is_none() {
                let path = path.with(Step::Key(key), |path| path.pointer());
                ops.push(PatchOperation::Remove(RemoveOperation { path }));
            }
        }
    }
}

/// The members of the object at `at` sorted by key, the last of duplicate keys kept, as in a
/// `serde_json::Map`.
fn members<'t>(tape: &'t Tape<'_>, at: usize) -> Vec<(&'t str, usize)> {
    // Room for most objects' members without growing (the children give no size hint).
    let mut members: Vec<(&str, usize)> = Vec::with_capacity(16);
    members.extend(tape.children(at).map(|child| (tape.key(child), child)));
    // The API server writes most objects' keys in struct order, not sorted.
    if !members.is_sorted_by(|a, b| a.0 < b.0) {
        // Stable: of duplicate keys the last stays last, and is the one kept.
        members.sort_by(|a, b| a.0.cmp(b.0));
        members.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                *earlier = *later;
                true
            } else {
                false
            }
        });
    }
    members
}

#[cfg(test)]
mod tests;

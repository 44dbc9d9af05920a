//! The fast read of an AdmissionReview's members: one pass over the text that checks it is JSON
//! and finds where each member's value starts and ends, without building anything.
//!
//! serde_json reading each value as a `RawValue` checks and skips it too, but one string at a time
//! through its generic reader (`ignore_value`, `skip_to_escape`), after a separate pass for the
//! depth limit: about 76,000 of the host's 405,000 instructions per admission of the bench's Pod
//! review. Here a string is skipped eight bytes at a time (the policy crate's `first_special`,
//! which writes the guest's answer too), indentation too, and the depth is counted on the way:
//! about 38,000 (BENCHMARKS.md, "The review read by a scan of our own").
//!
//! It accepts exactly what serde_json accepts when skipping a value (RFC 8259 JSON; a `\u` escape
//! is checked for four hex digits, as serde_json's `ignore_value` does), and keys are decoded by
//! serde_json itself. Anything it does not accept, or any shape it does not read (a document or
//! `open` member that is not an object), is handed back as `None`: `members::opening` then reads
//! the text with serde_json, which gives the exact error or the other shape. The tests hold the
//! two to each other on generated and damaged documents.

use std::borrow::Cow;

use pullthrough_policy::first_special;

use super::members::{MAX_DEPTH, Member};

/// An object's members, with those of its member named `open` (when it is an object), or `None`
/// when the text is anything but an object of that shape in valid JSON.
pub(super) type Scanned<'a> = Option<(Vec<Member<'a>>, Option<Vec<Member<'a>>>)>;

/// Reads `json` as an object, opening its last member named `open` (unless `open` is empty).
pub(super) fn opening<'a>(json: &'a str, open: &str) -> Scanned<'a> {
    let mut scanner = Scanner { text: json, at: 0 };
    scanner.whitespace();
    let mut opened = None;
    let members = scanner.object_members(0, |scanner, key| {
        if open.is_empty() || key != open {
            return Some(false);
        }
        opened = Some(scanner.object_members(1, |_, _| Some(false))?);
        Some(true)
    })?;
    scanner.whitespace();
    (scanner.at == json.len()).then_some((members, opened))
}

/// Where the read is in the text. Every method returns `None` at the first thing that is not
/// JSON; `at` is then of no further use.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn whitespace(&mut self) {
        let bytes = self.bytes();
        while let Some(&byte) = bytes.get(self.at) {
            match byte {
                b'\n' => {
                    self.at += 1;
                    // A pretty-printed line's indentation, eight spaces at a time.
                    while bytes.get(self.at..self.at + 8) == Some(b"        ".as_slice()) {
                        self.at += 8;
                    }
                }
                b' ' | b'\t' | b'\r' => self.at += 1,
                _ => return,
            }
        }
    }

    /// The members of the object at `at`, which `depth` arrays and objects enclose. A member for
    /// which `take` answers `true` has been read by it and is not listed.
    fn object_members(
        &mut self,
        depth: usize,
        mut take: impl FnMut(&mut Self, &str) -> Option<bool>,
    ) -> Option<Vec<Member<'a>>> {
        self.eat(b'{')?;
        let mut members = Vec::with_capacity(16);
        self.whitespace();
        if self.eat(b'}').is_some() {
            return Some(members);
        }
        loop {
            let key = self.key()?;
            if !take(self, &key)? {
                let start = self.at;
                self.value(depth + 1)?;
                members.push((key, &self.text[start..self.at]));
            }
            self.whitespace();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.whitespace();
                }
                b'}' => {
                    self.at += 1;
                    return Some(members);
                }
                _ => return None,
            }
        }
    }

    /// A member's key and the colon after it, leaving `at` on its value.
    fn key(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        let escaped = self.string()?;
        let quoted = &self.text[start..self.at];
        let key = if escaped {
            // Rare in a review; serde_json decodes it as it would have.
            Cow::Owned(serde_json::from_str::<String>(quoted).ok()?)
        } else {
            Cow::Borrowed(&quoted[1..quoted.len() - 1])
        };
        self.colon()?;
        Some(key)
    }

    /// Skips the value at `at`, which `depth` arrays and objects enclose, to just past its end.
    /// Arrays and objects are walked without recursion: bit `i` of `objects` says whether the
    /// container `i + 1` levels below the value's own is an object.
    fn value(&mut self, depth: usize) -> Option<()> {
        let base = depth;
        let mut depth = depth;
        let mut objects: u128 = 0;
        loop {
            // At the start of a value.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return None;
                    }
                    let object = open == b'{';
                    objects = (objects << 1) | u128::from(object);
                    self.at += 1;
                    self.whitespace();
                    let close = if object { b'}' } else { b']' };
                    if self.eat(close).is_some() {
                        depth -= 1;
                        objects >>= 1;
                    } else {
                        if object {
                            self.member_name()?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return None,
            }
            // Just past a value: close what ends here, or go on to the next element.
            loop {
                if depth == base {
                    return Some(());
                }
                self.whitespace();
                let in_object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.whitespace();
                        if in_object {
                            self.member_name()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                self.at += 1;
                depth -= 1;
                objects >>= 1;
            }
        }
    }

    /// A skipped object's member name and colon.
    fn member_name(&mut self) -> Option<()> {
        self.string()?;
        self.colon()
    }

    /// The colon after a member name, with the whitespace around it.
    fn colon(&mut self) -> Option<()> {
        self.whitespace();
        self.eat(b':')?;
        self.whitespace();
        Some(())
    }

    /// Skips the string at `at` to just past its closing quote; `true` when it has escapes.
    fn string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let mut escaped = false;
        loop {
            self.at += first_special(&bytes[self.at..])?;
            match bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    return Some(escaped);
                }
                b'\\' => self.at += 1,
                // A control character, which JSON allows only escaped.
                _ => return None,
            }
            escaped = true;
            match self.peek()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                b'u' => {
                    let hex = bytes.get(self.at + 1..self.at + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.at += 5;
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.bytes()[self.at..]
            .starts_with(word.as_bytes())
            .then(|| self.at += word.len())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => {
                self.at += 1;
                if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests;

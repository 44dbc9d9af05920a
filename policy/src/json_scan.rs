//! A JSON scan that checks the text and finds where each value starts and ends, without building
//! anything: strings eight bytes at a time ([`first_special`]), a pretty line's indentation eight
//! spaces at a time, the nesting depth counted on the way.
//!
//! It accepts exactly what serde_json accepts when skipping a value (RFC 8259 JSON; a `\u` escape
//! is checked for four hex digits, as serde_json's `ignore_value` does); keys with escapes are
//! decoded by serde_json itself. The host reads each AdmissionReview's members with it
//! (`host/src/admission/scan.rs`, whose tests hold it to serde_json on generated and damaged
//! documents), and the guest the object it rewrites (`object_text.rs`).

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use crate::json_text::first_special;

/// How [`Scanner::value_within`] left a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within {
    /// Skipped to just past its end; `plain` when no string in it has an escape and no number
    /// an exponent or more than 20 characters (what a `Value` may still refuse).
    Ended {
        /// See above.
        plain: bool,
    },
    /// A value inside it starts past the limit.
    Beyond,
}

/// Where the read is in the text. Every method returns `None` at the first thing that is not
/// JSON; `at` is then of no further use.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    text: &'a str,
    at: usize,
    /// How deep arrays and objects may nest, the document's own level counted as 1.
    max_depth: usize,
}

impl<'a> Scanner<'a> {
    /// A scan of `text` from its start, refusing containers nested deeper than `max_depth`.
    pub fn new(text: &'a str, max_depth: usize) -> Self {
        Self {
            text,
            at: 0,
            max_depth,
        }
    }

    /// The whole text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Where the scan is, in bytes from the start.
    pub fn at(&self) -> usize {
        self.at
    }

    /// Moves the scan `by` bytes on, past text the caller knows to be one whole JSON value (the
    /// host's patch, past a value it found the same as one it read before).
    pub fn skip(&mut self, by: usize) {
        self.at += by;
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The byte at the scan, if any.
    pub fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Skips whitespace. Compact JSON has none, so the first test is inlined and the loop is not.
    #[inline]
    pub fn whitespace(&mut self) {
        if let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.skip_whitespace();
        }
    }

    #[inline(never)]
    fn skip_whitespace(&mut self) {
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

    /// Calls `each` with the key of every member of the object at the scan, the scan on the
    /// member's value, which `each` must read. `depth` containers enclose the object.
    pub fn members(
        &mut self,
        depth: usize,
        mut each: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>,
    ) -> Option<()> {
        self.elements(depth, b'{', b'}', |scanner, _| {
            let key = scanner.key()?;
            each(scanner, key)
        })
    }

    /// Calls `each` with the index of every element of the array at the scan, as
    /// [`Scanner::members`] does with members.
    pub fn items(
        &mut self,
        depth: usize,
        each: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        self.elements(depth, b'[', b']', each)
    }

    /// The container from `open` to `close` at the scan, `each` called at the start of every
    /// element with its index.
    fn elements(
        &mut self,
        depth: usize,
        open: u8,
        close: u8,
        mut each: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        if depth >= self.max_depth {
            return None;
        }
        self.eat(open)?;
        self.whitespace();
        if self.eat(close).is_some() {
            return Some(());
        }
        for index in 0.. {
            each(self, index)?;
            if !self.next_or_end(close)? {
                break;
            }
        }
        Some(())
    }

    /// After a member or element: `true` past a comma and the whitespace after it, `false` just
    /// past the container's `close`.
    fn next_or_end(&mut self, close: u8) -> Option<bool> {
        self.whitespace();
        let byte = self.peek()?;
        self.at += 1;
        if byte == b',' {
            self.whitespace();
            Some(true)
        } else {
            (byte == close).then_some(false)
        }
    }

    /// A member's key and the colon after it, leaving `at` on its value.
    fn key(&mut self) -> Option<Cow<'a, str>> {
        let key = self.decoded_string()?;
        self.colon()?;
        Some(key)
    }

    /// The string at `at`, decoded: borrowed from the text unless it has escapes. Always inlined:
    /// as a call of its own it cost the guest about 7,000 fuel over the three bench fixtures.
    #[inline(always)]
    pub fn decoded_string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.at;
        let escaped = self.string()?;
        let quoted = &self.text[start..self.at];
        Some(if escaped {
            // Rare in a review; serde_json decodes it as it would have.
            Cow::Owned(serde_json::from_str::<String>(quoted).ok()?)
        } else {
            Cow::Borrowed(&quoted[1..quoted.len() - 1])
        })
    }

    /// Skips whitespace; `true` when the text ends there (after a whole document).
    pub fn end(&mut self) -> bool {
        self.whitespace();
        self.at == self.text.len()
    }

    /// Skips the value at `at`, which `depth` arrays and objects enclose, and gives its text.
    pub fn raw(&mut self, depth: usize) -> Option<&'a str> {
        let start = self.at;
        self.value(depth)?;
        Some(&self.text[start..self.at])
    }

    /// The value at `at`, which `depth` arrays and objects enclose, read by serde_json from its
    /// text: the small members a reader wants typed. `None` when that type refuses it.
    pub fn parse<T: DeserializeOwned>(&mut self, depth: usize) -> Option<T> {
        serde_json::from_str(self.raw(depth)?).ok()
    }

    /// Skips the value at `at`, which `depth` arrays and objects enclose, to just past its end.
    pub fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_value::<false>(depth, usize::MAX).map(drop)
    }

    /// [`Scanner::value`], given up as soon as a value inside it starts past `limit`
    /// ([`Within::Beyond`], `at` then inside it).
    pub fn value_within(&mut self, depth: usize, limit: usize) -> Option<Within> {
        self.skip_value::<true>(depth, limit)
    }

    /// [`Scanner::value`], and with `WITHIN` [`Scanner::value_within`] (its limit and its
    /// `plain`, which the guest's skips do without). Arrays and objects are walked without
    /// recursion: bit `i` of `objects` says whether the container `i + 1` levels below the
    /// value's own is an object.
    #[inline(always)]
    fn skip_value<const WITHIN: bool>(&mut self, depth: usize, limit: usize) -> Option<Within> {
        let base = depth;
        let mut depth = depth;
        let mut objects: u128 = 0;
        let mut plain = true;
        loop {
            if WITHIN && self.at > limit {
                return Some(Within::Beyond);
            }
            // At the start of a value.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    depth += 1;
                    if depth > self.max_depth {
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
                            plain &= !self.member_name()?;
                        }
                        continue;
                    }
                }
                b'"' => plain &= !self.string()? || !WITHIN,
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                b'-' | b'0'..=b'9' => {
                    let start = self.at;
                    self.number()?;
                    if WITHIN {
                        let number = &self.bytes()[start..self.at];
                        plain &= number.len() <= 20 && !number.iter().any(|b| b | 0x20 == b'e');
                    }
                }
                _ => return None,
            }
            // Just past a value: close what ends here, or go on to the next element.
            loop {
                if depth == base {
                    return Some(Within::Ended { plain });
                }
                self.whitespace();
                let in_object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.whitespace();
                        if in_object {
                            plain &= !self.member_name()?;
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

    /// A skipped object's member name and colon; `true` when the name has escapes.
    fn member_name(&mut self) -> Option<bool> {
        let escaped = self.string()?;
        self.colon()?;
        Some(escaped)
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

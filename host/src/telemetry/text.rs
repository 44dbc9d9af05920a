//! The fields of text log lines, with every control character escaped.
//!
//! A review's `uid`, `name` and `namespace` come from whoever created the object: written raw, a
//! name holding a newline forges a log line of its own, and ANSI escapes reach the terminal of
//! whoever reads the log. tracing-subscriber's text format escapes the message only, so each
//! value here goes through [`Escaping`]: `\n` becomes the two characters `\n`, ESC becomes
//! `\u{1b}`. The JSON format needs none of this; JSON strings are escaped as they are written.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// `name=value` pairs separated by spaces, the message first and bare, as tracing-subscriber's
/// default writes them; an error is its chain on one line (`crate::report::one_line`).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Fields {
            writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Fields<'writer> {
    writer: Writer<'writer>,
    result: fmt::Result,
    first: bool,
}

impl Fields<'_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = self.pair(field, value);
        }
    }

    fn pair(&mut self, field: &Field, value: fmt::Arguments<'_>) -> fmt::Result {
        self.name(field)?;
        Escaping(&mut self.writer).write_fmt(value)
    }

    /// The separator and `name=`, or nothing before the message.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else if self.result.is_ok() && is_plain_quoted(value) {
            // What `{value:?}` writes for a string with nothing to escape, without its
            // char-by-char escape checks: a line's uid, kind and names are such strings.
            self.result = self.name(field).and_then(|()| {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            });
        } else {
            // Quoted, as tracing-subscriber writes a string field.
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.write(field, format_args!("{}", crate::report::one_line(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}

/// Writes through to `0`, each control character (and the Unicode line and paragraph
/// separators) as its Rust escape.
pub(super) struct Escaping<W>(pub(super) W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Printable ASCII, as nearly every value is, needs no look at its characters.
        if text.bytes().all(|b| matches!(b, b' '..=b'~')) {
            return self.0.write_str(text);
        }
        self.write_each_char(text)
    }
}

impl<W: fmt::Write> Escaping<W> {
    /// The search for characters to escape, one character at a time.
    fn write_each_char(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(needs_escape) {
            let (plain, after) = rest.split_at(at);
            self.0.write_str(plain)?;
            let mut chars = after.chars();
            if let Some(c) = chars.next() {
                write!(self.0, "{}", c.escape_debug())?;
            }
            rest = chars.as_str();
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Whether `{value:?}` writes `value` between quotes as it is: printable ASCII other than `"`
/// and `\` (and `'`, which `str`'s `Debug` leaves alone today and `char`'s does not).
fn is_plain_quoted(value: &str) -> bool {
    value
        .bytes()
        .all(|b| matches!(b, b' '..=b'~') && !matches!(b, b'"' | b'\\' | b'\''))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        Escaping(&mut out).write_str(text).expect("writes");
        out
    }

    /// The character search alone, as every value took before the printable-ASCII path.
    fn escaped_char_by_char(text: &str) -> String {
        let mut out = String::new();
        Escaping(&mut out).write_each_char(text).expect("writes");
        out
    }

    proptest::proptest! {
        #[test]
        fn printable_ascii_is_written_as_the_character_search_writes_it(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[ -~\n\t\u{1b}\u{85}é]{0,24}",
            ],
        ) {
            proptest::prop_assert_eq!(escaped(&text), escaped_char_by_char(&text));
        }

        #[test]
        fn a_plain_string_is_quoted_as_debug_quotes_it(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[ -~]{0,24}",
            ],
        ) {
            if is_plain_quoted(&text) {
                proptest::prop_assert_eq!(format!("\"{text}\""), format!("{text:?}"));
            }
        }
    }

    #[test]
    fn plain_strings_are_the_printable_ascii_ones_without_quotes_or_backslashes() {
        assert!(is_plain_quoted(
            "default/web-7d9c5-x2k4q Pod CREATE 0c4d-11ee"
        ));
        for text in ["a\"b", "a\\b", "it's", "tab\t", "é", "\u{7f}"] {
            assert!(!is_plain_quoted(text), "{text:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escaped("web\nINFO forged\u{1b}[31mred\r\t\u{85}\u{2028}ünïcode"),
            r"web\nINFO forged\u{1b}[31mred\r\t\u{85}\u{2028}ünïcode"
        );
        assert_eq!(escaped("plain-name_1.2"), "plain-name_1.2");
    }
}

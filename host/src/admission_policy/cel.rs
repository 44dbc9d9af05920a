//! CEL literals: strings, lists of strings and regular expressions, quoted so that any value
//! from the settings reads back as itself.

use std::fmt::Write as _;

/// A single-quoted CEL string literal.
pub(super) fn string(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('\'');
    for c in text.chars() {
        match c {
            '\\' => literal.push_str("\\\\"),
            '\'' => literal.push_str("\\'"),
            c if c.is_control() => {
                // Writing to a String cannot fail.
                let _ = write!(literal, "\\u{:04x}", u32::from(c));
            }
            c => literal.push(c),
        }
    }
    literal.push('\'');
    literal
}

/// `['a', 'b']`.
pub(super) fn string_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<String> = items.iter().map(|item| string(item.as_ref())).collect();
    format!("[{}]", items.join(", "))
}

/// A regular expression for `matches` or `find`: a raw string (`r'…'`, backslashes as they are)
/// when it can be one, so the pattern reads as RE2 sees it.
pub(super) fn regex(pattern: &str) -> String {
    if pattern.contains(['\'', '\n', '\r']) {
        string(pattern)
    } else {
        format!("r'{pattern}'")
    }
}

/// `template` with each `@NAME@` replaced by its value and `@@` by `@`, in one pass (a value is
/// never read again): the CEL reads better as a template than as `format!` with every brace
/// doubled.
/// Panics on a placeholder without a value, which is a bug in the template.
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find('@') {
        text.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('@')
            .unwrap_or_else(|| panic!("an unclosed placeholder in {template}"));
        let name = &after[..end];
        rest = &after[end + 1..];
        if name.is_empty() {
            text.push('@');
            continue;
        }
        let value = values
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no value for @{name}@"));
        text.push_str(value.1);
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_cel_reads_specially() {
        assert_eq!(string("m.example.com"), "'m.example.com'");
        assert_eq!(
            string("it's a \\ and a\nline"),
            r"'it\'s a \\ and a\u000aline'"
        );
        assert_eq!(string_list(&["a", "b'c"]), r"['a', 'b\'c']");
        assert_eq!(string_list::<&str>(&[]), "[]");
        assert_eq!(regex(r"^a\.b$"), r"r'^a\.b$'");
        assert_eq!(regex(r"it's"), r"'it\'s'");
    }

    #[test]
    fn templates_are_filled() {
        assert_eq!(
            fill(
                "a == @A@ && b in @LIST@",
                &[("A", "'x'"), ("LIST", "['y']")]
            ),
            "a == 'x' && b in ['y']"
        );
        assert_eq!(fill("@A@ @B@", &[("A", "@B@"), ("B", "b")]), "@B@ b");
        assert_eq!(fill("[:tag][@@digest]", &[]), "[:tag][@digest]");
    }
}

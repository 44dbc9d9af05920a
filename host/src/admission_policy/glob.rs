//! `exclude` patterns as one RE2 pattern, matching exactly what the policy's `glob` patterns
//! match with its options (case-sensitive, `/` only matched literally).
//!
//! The patterns arrive validated by the policy (`glob::Pattern::new` accepted them), so the
//! tokens are read here as glob 0.3 reads them: `?` and `*` stop at `/`; `**` forms a whole path
//! component and matches any run of components, `/` included; `[...]` and `[!...]` are classes
//! (the first character after the bracket is literal, even `]`), and never match `/`.

use std::fmt::Write as _;

/// One glob token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    AnyChar,
    AnySequence,
    /// `**`: at the end of the pattern any rest; elsewhere nothing or anything ending in `/`.
    AnyRecursiveSequence,
    /// Inclusive ranges, a single character as a range of one.
    AnyWithin(Vec<(char, char)>),
    AnyExcept(Vec<(char, char)>),
}

/// `^(?:P1|P2|…)$` for `patterns`, `None` when there are none.
pub(super) fn to_regex(patterns: &[&str]) -> Option<String> {
    if patterns.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = patterns.iter().map(|p| pattern_regex(p)).collect();
    Some(format!("^(?:{})$", alternatives.join("|")))
}

fn pattern_regex(pattern: &str) -> String {
    let tokens = tokens(pattern);
    let mut regex = String::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Char(c) => push_literal(&mut regex, *c),
            Token::AnyChar => regex.push_str("[^/]"),
            Token::AnySequence => regex.push_str("[^/]*"),
            Token::AnyRecursiveSequence if i + 1 == tokens.len() => regex.push_str(".*"),
            Token::AnyRecursiveSequence => regex.push_str("(?:.*/)?"),
            Token::AnyWithin(ranges) => push_within(&mut regex, ranges),
            Token::AnyExcept(ranges) => {
                regex.push_str("[^");
                for &(lo, hi) in ranges {
                    push_range(&mut regex, lo, hi);
                }
                regex.push_str("/]");
            }
        }
    }
    regex
}

/// glob 0.3's tokenizer, for a pattern it accepted.
fn tokens(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '?' => {
                tokens.push(Token::AnyChar);
                i += 1;
            }
            '*' => {
                let start = i;
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                if i - start == 2 {
                    // The `/` that ends the component belongs to the token.
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(Token::AnyRecursiveSequence);
                } else {
                    tokens.push(Token::AnySequence);
                }
            }
            '[' => {
                let negated = chars.get(i + 1) == Some(&'!') && i + 4 <= chars.len();
                // The class body starts after `[` (or `[!`) and its first character is never
                // the closing bracket.
                let body = if negated { i + 2 } else { i + 1 };
                let close = chars
                    .get(body + 1..)
                    .and_then(|rest| rest.iter().position(|c| *c == ']'))
                    .map(|j| body + 1 + j);
                match close {
                    Some(close) => {
                        let ranges = ranges(&chars[body..close]);
                        tokens.push(if negated {
                            Token::AnyExcept(ranges)
                        } else {
                            Token::AnyWithin(ranges)
                        });
                        i = close + 1;
                    }
                    // glob refuses such a pattern; a literal keeps this total.
                    None => {
                        tokens.push(Token::Char('['));
                        i += 1;
                    }
                }
            }
            c => {
                tokens.push(Token::Char(c));
                i += 1;
            }
        }
    }
    tokens
}

/// glob's `parse_char_specifiers`: `a-z` is a range, anything else a single character.
fn ranges(body: &[char]) -> Vec<(char, char)> {
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if i + 3 <= body.len() && body[i + 1] == '-' {
            ranges.push((body[i], body[i + 2]));
            i += 3;
        } else {
            ranges.push((body[i], body[i]));
            i += 1;
        }
    }
    ranges
}

/// A class of `ranges` without `/`; one that is left empty never matches.
fn push_within(regex: &mut String, ranges: &[(char, char)]) {
    let mut parts = Vec::new();
    for &(lo, hi) in ranges.iter().filter(|(lo, hi)| lo <= hi) {
        if lo <= '/' && '/' <= hi {
            if lo < '/' {
                parts.push((lo, '.'));
            }
            if hi > '/' {
                parts.push(('0', hi));
            }
        } else {
            parts.push((lo, hi));
        }
    }
    if parts.is_empty() {
        regex.push_str("[^\\x00-\\x{10FFFF}]");
        return;
    }
    regex.push('[');
    for (lo, hi) in parts {
        push_range(regex, lo, hi);
    }
    regex.push(']');
}

/// A range inside a class; an empty one (`z-a`) adds nothing, as glob matches nothing by it.
fn push_range(regex: &mut String, lo: char, hi: char) {
    if lo > hi {
        return;
    }
    push_class_char(regex, lo);
    if lo != hi {
        regex.push('-');
        push_class_char(regex, hi);
    }
}

fn push_class_char(regex: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        regex.push(c);
    } else {
        hex(regex, c);
    }
}

/// A character outside a class: letters, digits and the characters references are made of
/// stay readable, the rest is escaped.
fn push_literal(regex: &mut String, c: char) {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | '/' | '-' | '_' | ':' | '@' => regex.push(c),
        '.' | '[' | ']' => {
            regex.push('\\');
            regex.push(c);
        }
        c => hex(regex, c),
    }
}

fn hex(regex: &mut String, c: char) {
    // Writing to a String cannot fail.
    let _ = write!(regex, "\\x{{{:X}}}", u32::from(c));
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: glob::MatchOptions = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };

    #[test]
    fn patterns_match_what_glob_matches() {
        let patterns = [
            "docker.io/library/busybox",
            "ghcr.io/internal/**",
            "docker.io/library/nginx:1.*",
            "quay.io/*/keep-*",
            "**/nginx",
            "**",
            "**/**/x",
            "a/**/b",
            "a/**",
            "ghcr.io/[a-c]*/x",
            "ghcr.io/[!a]*",
            "quay.io/?rg/*",
            "docker.io/library/nginx:1.2[0-9]",
            "[]]",
            "[!]]x",
            "x[/]y",
            "x[!/]y",
            "x[.-0]y",
            "x/[z-a]",
            "a+b(c)|d^e$f{1}'\"\\",
            "registry.example.com:5000/app@sha256:*",
            "[[]x",
            "ü*",
        ];
        let inputs = [
            "docker.io/library/busybox",
            "docker.io/library/busybox:1.36",
            "ghcr.io/internal",
            "ghcr.io/internal/",
            "ghcr.io/internal/team/app:1",
            "docker.io/library/nginx:1.27",
            "docker.io/library/nginx:2.0",
            "quay.io/org/keep-me",
            "quay.io/org/sub/keep-me",
            "nginx",
            "docker.io/library/nginx",
            "x",
            "a/x",
            "a/b",
            "a/x/b",
            "a/x/y/b",
            "a/",
            "a",
            "ab",
            "ghcr.io/b/x",
            "ghcr.io/ab/x",
            "ghcr.io/d/x",
            "ghcr.io/a",
            "ghcr.io/b",
            "quay.io/org/a",
            "quay.io/xrg/a/b",
            "docker.io/library/nginx:1.20",
            "docker.io/library/nginx:1.2a",
            "]",
            "x",
            "]x",
            "ax",
            "x/y",
            "xay",
            "x.y",
            "x-y",
            "x0y",
            "x/z",
            "a+b(c)|d^e$f{1}'\"\\",
            "registry.example.com:5000/app@sha256:abc",
            "[x",
            "üb",
            "",
        ];
        let mut failures = Vec::new();
        for pattern in patterns {
            let glob = glob::Pattern::new(pattern).expect("a valid glob");
            let regex = regex::Regex::new(&to_regex(&[pattern]).expect("a pattern"))
                .unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
            for input in inputs {
                let want = glob.matches_with(input, OPTIONS);
                if regex.is_match(input) != want {
                    failures.push(format!("{pattern:?} on {input:?}: glob says {want}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn several_patterns_are_one_alternation() {
        assert_eq!(to_regex(&[]), None);
        assert_eq!(
            to_regex(&["docker.io/library/busybox", "ghcr.io/internal/**"]).as_deref(),
            Some("^(?:docker\\.io/library/busybox|ghcr\\.io/internal/.*)$")
        );
        assert_eq!(
            to_regex(&["quay.io/*/keep-*", "**/x?"]).as_deref(),
            Some("^(?:quay\\.io/[^/]*/keep-[^/]*|(?:.*/)?x[^/])$")
        );
    }
}

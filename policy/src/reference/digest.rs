//! Digests: the reference grammar's `digestPat`, then go-digest's validation of the algorithm
//! and its encoded length.

use super::ParseError;

/// `digestPat := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)* ':' [[:xdigit:]]{32,}`.
pub(super) fn is_digest_pattern(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let component = |c: &str| {
        let bytes = c.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphabetic)
            && bytes.iter().all(u8::is_ascii_alphanumeric)
    };
    algorithm.split(['-', '_', '+', '.']).all(component)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// go-digest's `Digest.Validate` with sha256, sha384 and sha512 registered, as in containerd.
pub(super) fn validate_digest(digest: &str) -> Result<(), ParseError> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(ParseError::DigestInvalidFormat);
    };
    let size = match algorithm {
        "sha256" => 32,
        "sha384" => 48,
        "sha512" => 64,
        // go-digest's DigestRegexp wants a lowercase algorithm before it calls one unsupported.
        _ if algorithm.split(['.', '+', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }) =>
        {
            return Err(ParseError::DigestUnsupported);
        }
        _ => return Err(ParseError::DigestInvalidFormat),
    };
    if encoded.len() != size * 2 {
        return Err(ParseError::DigestInvalidLength);
    }
    if !encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ParseError::DigestInvalidFormat);
    }
    Ok(())
}

//! JSON text, byte by byte: where a string's plain run ends, and a string written as serde_json
//! writes it.
//!
//! The host's review scanner and the guest's answer both look for the bytes a JSON string cannot
//! hold as they are: a quote, a backslash or a control character. Most strings in an
//! admission review are shorter than a `memchr` call's set-up, and in wasm there is no SIMD, so
//! the search tests eight bytes at a time in one 64-bit word (wasm has 64-bit integers); the host,
//! built for x86_64, tests sixteen at a time with SSE2.

/// Where `text` first holds a quote, a backslash or a control character. Natively on x86_64,
/// sixteen bytes at a time with SSE2 (every x86_64 CPU has it), the rest as in wasm, where there
/// is no SIMD: eight bytes at a time in one 64-bit word ([`in_words`]).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn first_special(text: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut chunks = text.chunks_exact(16);
    let mut offset = 0;
    for chunk in &mut chunks {
        // SAFETY: SSE2 is part of x86_64 itself, the chunk holds the 16 bytes loaded, and an
        // unaligned load takes any address.
        let found = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            // Below 0x20: the unsigned minimum of the byte and 0x1f is the byte itself.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
        };
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize);
        }
        offset += 16;
    }
    in_words(chunks.remainder()).map(|at| offset + at)
}

/// Where `text` first holds a quote, a backslash or a control character (see [`in_words`]).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub fn first_special(text: &[u8]) -> Option<usize> {
    in_words(text)
}

/// Where `text` first holds a quote, a backslash or a control character: eight bytes at a time,
/// each tested for all three at once. For each test, `(x - 0x01…) & !x & 0x80…` flags a zero
/// byte of `x`; a borrow can flag a byte above a flagged one too, but never below, so the lowest
/// flag is a true one.
#[inline]
fn in_words(text: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut chunks = text.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Below 0x20: the subtraction borrows into the top bit of a byte that had it clear.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let found =
            zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) | control;
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize / 8);
        }
        offset += 8;
    }
    let rest = chunks.remainder();
    let at = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(offset + at)
}

/// Appends `text` as a JSON string, quoted and escaped exactly as serde_json's compact writer
/// does: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other control characters as `\u00xx`, and
/// every other character (non-ASCII included) as it is.
pub(crate) fn push_string(out: &mut Vec<u8>, text: &str) {
    let mut rest = text.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    while let Some(at) = first_special(rest) {
        out.extend_from_slice(&rest[..at]);
        push_escape(out, rest[at]);
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

fn push_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0C => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xF)]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests;

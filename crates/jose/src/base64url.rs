//! Strict base64 decoding.
//!
//! JWS (RFC 7515 §2) uses base64url **without padding**; we also require the canonical encoding
//! (unused trailing bits must be zero), so that one token has exactly one byte representation.
//! Accepting several spellings of the same signature would let an attacker mint "new" tokens that
//! bypass a cache keyed on the token text, or smuggle data through ignored bits.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Why a base64 string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// A character outside the alphabet (including `=`, `+`, `/`, whitespace).
    #[error("invalid base64url character")]
    InvalidCharacter,
    /// The length is impossible for unpadded base64url (one leftover character).
    #[error("invalid base64url length")]
    InvalidLength,
    /// The last character has non-zero unused bits: a non-canonical encoding.
    #[error("non-canonical base64url (non-zero trailing bits)")]
    NonCanonical,
}

fn classify(err: base64::DecodeError) -> Base64Error {
    match err {
        base64::DecodeError::InvalidByte(_, _) | base64::DecodeError::InvalidPadding => {
            Base64Error::InvalidCharacter
        }
        base64::DecodeError::InvalidLength(_) => Base64Error::InvalidLength,
        base64::DecodeError::InvalidLastSymbol(_, _) => Base64Error::NonCanonical,
    }
}

/// Decodes unpadded, canonical base64url (RFC 4648 §5).
pub fn decode(input: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(input).map_err(classify)
}

/// The base64url alphabet (RFC 4648 §5).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Marks a byte outside the alphabet in [`SEXTETS`] and [`SHIFTED`].
const INVALID: u32 = 1 << 31;

/// Each byte's 6-bit value, or [`INVALID`].
const SEXTETS: [u32; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u32;
        i += 1;
    }
    table
};

/// [`SEXTETS`] pre-shifted to each position of a four-character group, so a group decodes with
/// four lookups and three ORs (an invalid character sets [`INVALID`] in the result).
const SHIFTED: [[u32; 256]; 4] = {
    let mut tables = [[INVALID; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let sextet = SEXTETS[i];
        if sextet != INVALID {
            tables[0][i] = sextet << 18;
            tables[1][i] = sextet << 12;
            tables[2][i] = sextet << 6;
            tables[3][i] = sextet;
        }
        i += 1;
    }
    tables
};

/// Decodes the longest prefix of `input` made of base64url alphabet characters, appending the
/// bytes to `out`, and returns that prefix's length; `None` if the prefix is not canonical
/// unpadded base64url (a length of 1 mod 4, or non-zero unused bits). The caller decides what
/// the character after the prefix may be. Accepts exactly what [`decode`] accepts for the same
/// prefix; for a precise error, call [`decode`].
pub(crate) fn decode_prefix(input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    // Room for every full group (the last one written four bytes wide) and a tail.
    out.resize(start + input.len() / 4 * 3 + 3, 0);
    let group = |g: &[u8]| {
        SHIFTED[0][usize::from(g[0])]
            | SHIFTED[1][usize::from(g[1])]
            | SHIFTED[2][usize::from(g[2])]
            | SHIFTED[3][usize::from(g[3])]
    };
    // Two groups (eight characters, six bytes) per step.
    let mut pairs = 0;
    for (src, dst) in input.chunks_exact(8).zip(out[start..].chunks_exact_mut(6)) {
        let (first, second) = (group(&src[..4]), group(&src[4..]));
        if (first | second) & INVALID != 0 {
            break;
        }
        let bits = (u64::from(first) << 40) | (u64::from(second) << 16);
        dst.copy_from_slice(&bits.to_be_bytes()[..6]);
        pairs += 1;
    }
    let mut read = pairs * 8;
    let mut written = start + pairs * 6;
    if let Some(last) = input.get(read..read + 4) {
        let word = group(last);
        if word & INVALID == 0 {
            out[written..written + 4].copy_from_slice(&(word << 8).to_be_bytes());
            written += 3;
            read += 4;
        }
    }
    // At most three alphabet characters follow the full groups.
    let rest = &input[read..];
    let tail = rest
        .iter()
        .take(3)
        .take_while(|b| SEXTETS[usize::from(**b)] != INVALID)
        .count();
    let sextet = |i: usize| SEXTETS[usize::from(rest[i])];
    match tail {
        0 => {}
        2 => {
            let (a, b) = (sextet(0), sextet(1));
            if b & 0x0f != 0 {
                return None;
            }
            out[written] = ((a << 2) | (b >> 4)) as u8;
            written += 1;
        }
        3 => {
            let (a, b, c) = (sextet(0), sextet(1), sextet(2));
            if c & 0x03 != 0 {
                return None;
            }
            let bits = (a << 18) | (b << 12) | (c << 6);
            out[written] = (bits >> 16) as u8;
            out[written + 1] = (bits >> 8) as u8;
            written += 2;
        }
        _ => return None,
    }
    out.truncate(written);
    Some(read + tail)
}

/// Encodes bytes as unpadded base64url.
pub fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

/// Decodes padded standard base64 (RFC 4648 §4), as used by the JWK `x5c` member.
pub fn decode_standard(input: &str) -> Result<Vec<u8>, Base64Error> {
    STANDARD.decode(input).map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_padding_and_foreign_alphabet() {
        assert_eq!(decode("Zm9v"), Ok(b"foo".to_vec()));
        assert_eq!(decode("Zm8="), Err(Base64Error::InvalidCharacter));
        assert_eq!(decode("a+b/"), Err(Base64Error::InvalidCharacter));
        assert_eq!(decode("Zm9v "), Err(Base64Error::InvalidCharacter));
        assert_eq!(decode("Z"), Err(Base64Error::InvalidLength));
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // "Zm8" is the canonical form of "fo"; "Zm9" sets unused bits.
        assert_eq!(decode("Zm8"), Ok(b"fo".to_vec()));
        assert_eq!(decode("Zm9"), Err(Base64Error::NonCanonical));
    }

    #[test]
    fn decode_prefix_matches_decode() {
        let mut out = b"x".to_vec();
        assert_eq!(decode_prefix(b"Zm9v.rest", &mut out), Some(4));
        assert_eq!(decode_prefix(b"Zm8", &mut out), Some(3));
        assert_eq!(decode_prefix(b"", &mut out), Some(0));
        assert_eq!(out, b"xfoofo");
        for bad in ["Zm9", "Z", "Zm9vZ", "Zm9vZ.", "Zm9vZm9="] {
            assert_eq!(
                decode_prefix(bad.as_bytes(), &mut Vec::new()),
                None,
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 5000, ..Default::default() })]

        /// The fast decoder agrees with the base64 crate on every prefix of alphabet characters.
        #[test]
        fn decode_prefix_agrees_with_the_base64_crate(
            input in "[A-Za-z0-9_\\-]{0,40}[.=+/ A-Za-z0-9_\\-]{0,3}",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            for input in [input.into_bytes(), bytes.clone(), encode(&bytes).into_bytes()] {
                let run = input
                    .iter()
                    .position(|b| !ALPHABET.contains(b))
                    .unwrap_or(input.len());
                let mut out = vec![7u8];
                let fast = decode_prefix(&input, &mut out);
                let reference = URL_SAFE_NO_PAD.decode(&input[..run]).ok();
                proptest::prop_assert_eq!(fast.is_some(), reference.is_some());
                if let (Some(len), Some(decoded)) = (fast, reference) {
                    proptest::prop_assert_eq!(len, run);
                    proptest::prop_assert_eq!(&out[1..], &decoded[..]);
                }
            }
        }
    }
}

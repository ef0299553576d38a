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
}

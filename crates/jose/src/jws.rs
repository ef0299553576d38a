//! Compact JWS parsing (RFC 7515 §7.1) with the shape rules of DESIGN.md §2.
//!
//! Parsing never verifies; it produces a [`CompactJws`] whose signing input and signature the
//! caller verifies with a key *it* selected. The header is checked for members that change how
//! the signature must be processed (`crit`, `b64`) or that mark a token we cannot validate
//! (`nonce`), and key-locating members (`jku`, `x5u`, `jwk`, `x5c`) are recorded but never used.

use serde_json::{Map, Value};

use crate::algorithm::AlgName;
use crate::base64url::{self, Base64Error};
use crate::jwk::MAX_KID_LEN;
use crate::strict_json::{self, JsonError};

/// Largest token accepted, in bytes (16 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Header members that could tell a naive verifier where to get a key. Never used.
pub const KEY_LOCATING_MEMBERS: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

/// Which part of a compact JWS a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The protected header.
    Header,
    /// The payload.
    Payload,
    /// The signature.
    Signature,
}

impl Part {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        }
    }
}

/// Why a token's shape is refused, before any key is involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Empty input.
    #[error("token is empty")]
    Empty,
    /// Longer than [`MAX_TOKEN_BYTES`].
    #[error("token is {0} bytes, more than the {MAX_TOKEN_BYTES}-byte limit")]
    TooLarge(usize),
    /// Five parts: an encrypted JWE, which we cannot read.
    #[error("token is a JWE (encrypted, five parts); only signed JWS tokens are accepted")]
    Encrypted,
    /// Not three dot-separated parts.
    #[error("token has {0} parts; a compact JWS has exactly 3")]
    WrongPartCount(usize),
    /// A part is not canonical unpadded base64url.
    #[error("{part} is not canonical base64url: {err}", part = .0.name(), err = .1)]
    Base64(Part, Base64Error),
    /// The header is not a strict JSON object.
    #[error("header is not a valid JSON object: {0}")]
    HeaderJson(JsonError),
    /// `alg` is missing or not a string.
    #[error("header has no `alg` string")]
    MissingAlg,
    /// `crit` is present: we implement no extensions, so RFC 7515 §4.1.11 requires rejection.
    #[error("header has `crit`: critical extensions are not supported")]
    Critical,
    /// `b64` is present (RFC 7797 unencoded payload): not supported.
    #[error("header has `b64`: unencoded payloads (RFC 7797) are not supported")]
    UnencodedPayload,
    /// `nonce` in the header: an Entra token minted for another resource (e.g. Microsoft Graph)
    /// whose signature covers a transformed nonce and cannot be validated by a third party.
    #[error(
        "header has `nonce`: the token was issued for another resource (e.g. Microsoft Graph) and cannot be validated here"
    )]
    HeaderNonce,
    /// `kid` is present but not a string of sane length.
    #[error("header `kid` is not a string of at most {MAX_KID_LEN} bytes")]
    BadKid,
    /// `typ` is present but not a string.
    #[error("header `typ` is not a string")]
    BadTyp,
    /// The signature part is empty (as in `alg: none` tokens).
    #[error("signature is empty")]
    EmptySignature,
}

/// The parsed protected header.
#[derive(Debug, Clone)]
pub struct JwsHeader {
    /// The `alg` value as sent, classified.
    pub alg: String,
    /// Classification of `alg`.
    pub alg_name: AlgName,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `typ`, if present.
    pub typ: Option<String>,
    /// The key-locating members that were present (and ignored).
    pub ignored_key_members: Vec<&'static str>,
    /// All members, for inspection and the evaluation trace.
    pub members: Map<String, Value>,
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    /// The protected header.
    pub header: JwsHeader,
    /// Decoded payload bytes (not interpreted here).
    pub payload: Vec<u8>,
    /// The JWS Signing Input: `BASE64URL(header) '.' BASE64URL(payload)`.
    pub signing_input: &'a str,
    /// Decoded signature bytes.
    pub signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Splits and decodes `token`, applying every shape rule.
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        if token.is_empty() {
            return Err(JwsError::Empty);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwsError::TooLarge(token.len()));
        }
        let dots = token.bytes().filter(|b| *b == b'.').count();
        match dots {
            2 => {}
            4 => return Err(JwsError::Encrypted),
            n => return Err(JwsError::WrongPartCount(n + 1)),
        }
        let mut parts = token.splitn(3, '.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::WrongPartCount(dots + 1));
        };
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];

        let header_bytes =
            base64url::decode(header_b64).map_err(|e| JwsError::Base64(Part::Header, e))?;
        let header = parse_header(&header_bytes)?;
        let payload =
            base64url::decode(payload_b64).map_err(|e| JwsError::Base64(Part::Payload, e))?;
        // An unsecured JWS (`alg: none`, RFC 7518 §3.6) has an empty signature; let it through
        // so the caller reports the precise reason ("alg none is never accepted").
        if signature_b64.is_empty() && header.alg_name != AlgName::None {
            return Err(JwsError::EmptySignature);
        }
        let signature =
            base64url::decode(signature_b64).map_err(|e| JwsError::Base64(Part::Signature, e))?;
        Ok(Self {
            header,
            payload,
            signing_input,
            signature,
        })
    }
}

fn parse_header(bytes: &[u8]) -> Result<JwsHeader, JwsError> {
    let members = strict_json::parse_object(bytes).map_err(JwsError::HeaderJson)?;
    let alg = members
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwsError::MissingAlg)?
        .to_owned();
    if members.contains_key("crit") {
        return Err(JwsError::Critical);
    }
    if members.contains_key("b64") {
        return Err(JwsError::UnencodedPayload);
    }
    if members.contains_key("nonce") {
        return Err(JwsError::HeaderNonce);
    }
    let kid = match members.get("kid") {
        None => None,
        Some(Value::String(kid)) if kid.len() <= MAX_KID_LEN => Some(kid.clone()),
        Some(_) => return Err(JwsError::BadKid),
    };
    let typ = match members.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ.clone()),
        Some(_) => return Err(JwsError::BadTyp),
    };
    let ignored_key_members = KEY_LOCATING_MEMBERS
        .into_iter()
        .filter(|m| members.contains_key(*m))
        .collect();
    Ok(JwsHeader {
        alg_name: AlgName::classify(&alg),
        alg,
        kid,
        typ,
        ignored_key_members,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str, sig: &str) -> String {
        format!(
            "{}.{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(payload.as_bytes()),
            sig
        )
    }

    #[test]
    fn splits_a_well_formed_token() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","jku":"https://evil"}"#,
            "{}",
            "AAAA",
        );
        let jws = CompactJws::parse(&t).unwrap();
        assert_eq!(jws.header.kid.as_deref(), Some("k1"));
        assert_eq!(jws.header.ignored_key_members, vec!["jku"]);
        assert_eq!(jws.signature, vec![0, 0, 0]);
        assert!(t.starts_with(jws.signing_input));
        assert_eq!(jws.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn shape_rules() {
        assert_eq!(CompactJws::parse("").unwrap_err(), JwsError::Empty);
        assert_eq!(
            CompactJws::parse("a.b").unwrap_err(),
            JwsError::WrongPartCount(2)
        );
        assert_eq!(
            CompactJws::parse("a.b.c.d.e").unwrap_err(),
            JwsError::Encrypted
        );
        let big = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            CompactJws::parse(&big).unwrap_err(),
            JwsError::TooLarge(MAX_TOKEN_BYTES + 1)
        );
        let crit = token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}", "AAAA");
        assert_eq!(CompactJws::parse(&crit).unwrap_err(), JwsError::Critical);
        let b64 = token(r#"{"alg":"RS256","b64":false}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&b64).unwrap_err(),
            JwsError::UnencodedPayload
        );
        let nonce = token(r#"{"alg":"RS256","nonce":"x"}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&nonce).unwrap_err(),
            JwsError::HeaderNonce
        );
        let no_sig = token(r#"{"alg":"RS256"}"#, "{}", "");
        assert_eq!(
            CompactJws::parse(&no_sig).unwrap_err(),
            JwsError::EmptySignature
        );
        let unsecured = token(r#"{"alg":"none"}"#, "{}", "");
        assert_eq!(
            CompactJws::parse(&unsecured).unwrap().header.alg_name,
            AlgName::None
        );
        let numeric_kid = token(r#"{"alg":"RS256","kid":7}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&numeric_kid).unwrap_err(),
            JwsError::BadKid
        );
    }
}

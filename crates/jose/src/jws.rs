//! Compact JWS parsing (RFC 7515 §7.1) with the shape rules of DESIGN.md §2.
//!
//! Parsing never verifies; it produces a [`CompactJws`] whose signing input and signature the
//! caller verifies with a key *it* selected. The header is checked for members that change how
//! the signature must be processed (`crit`, `b64`) or that mark a token we cannot validate
//! (`nonce`), and key-locating members (`jku`, `x5u`, `jwk`, `x5c`) are recorded but never used.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::algorithm::AlgName;
use crate::base64url::{self, Base64Error};
use crate::jwk::MAX_KID_LEN;
use crate::strict_json::{self, JsonError, RawObject};

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

/// The parsed protected header: the members the pipeline uses, already checked. The full
/// member map is built only on request ([`CompactJws::header_members`]).
#[derive(Debug, Clone)]
pub struct JwsHeader {
    /// The `alg` value as sent (borrowed from the algorithm table when it names one of ours).
    pub alg: Cow<'static, str>,
    /// Classification of `alg`.
    pub alg_name: AlgName,
    /// `kid`, if present.
    pub kid: Option<String>,
    /// `typ`, if present.
    pub typ: Option<String>,
    /// The key-locating members that were present (and ignored), in [`KEY_LOCATING_MEMBERS`]
    /// order.
    pub ignored_key_members: Vec<&'static str>,
}

/// A compact JWS split and decoded, not yet verified.
///
/// The three parts are decoded into one buffer (one allocation per token); the header is read
/// into [`JwsHeader`] without building a JSON tree, and the payload is left uninterpreted.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    /// The protected header.
    pub header: JwsHeader,
    /// The JWS Signing Input: `BASE64URL(header) '.' BASE64URL(payload)`.
    pub signing_input: &'a str,
    /// Decoded header, payload and signature, back to back.
    decoded: Vec<u8>,
    payload_start: usize,
    signature_start: usize,
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
        // Fast path: split at the dots while decoding the three parts into one buffer. Anything
        // irregular (a wrong number of parts, a character outside the alphabet, a non-canonical
        // part) goes to `parse_reference`, which applies the rules one by one, in order, and so
        // reports exactly the first one broken.
        let bytes = token.as_bytes();
        let mut decoded = Vec::with_capacity(token.len() / 4 * 3 + 9);
        let Some(header_len) = base64url::decode_prefix(bytes, &mut decoded)
            .filter(|len| bytes.get(*len) == Some(&b'.'))
        else {
            return Self::parse_reference(token);
        };
        let payload_start = decoded.len();
        let payload_at = header_len + 1;
        let Some(payload_len) = base64url::decode_prefix(&bytes[payload_at..], &mut decoded)
            .filter(|len| bytes.get(payload_at + len) == Some(&b'.'))
        else {
            return Self::parse_reference(token);
        };
        let signature_start = decoded.len();
        let signature_at = payload_at + payload_len + 1;
        if base64url::decode_prefix(&bytes[signature_at..], &mut decoded)
            != Some(bytes.len() - signature_at)
        {
            return Self::parse_reference(token);
        }
        let header = parse_header(&decoded[..payload_start])?;
        // An unsecured JWS (`alg: none`, RFC 7518 §3.6) has an empty signature; let it through
        // so the caller reports the precise reason ("alg none is never accepted").
        if signature_at == bytes.len() && header.alg_name != AlgName::None {
            return Err(JwsError::EmptySignature);
        }
        Ok(Self {
            header,
            signing_input: &token[..signature_at - 1],
            decoded,
            payload_start,
            signature_start,
        })
    }

    /// The shape rules one at a time, in their order (part count, then each part's encoding,
    /// the header rules, the empty signature), with the `base64` crate as the decoder. Used when
    /// the fast path met anything irregular, so its error is the precise one.
    fn parse_reference(token: &'a str) -> Result<Self, JwsError> {
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

        let mut decoded =
            base64url::decode(header_b64).map_err(|e| JwsError::Base64(Part::Header, e))?;
        let header = parse_header(&decoded)?;
        let payload_start = decoded.len();
        decoded.extend(
            base64url::decode(payload_b64).map_err(|e| JwsError::Base64(Part::Payload, e))?,
        );
        if signature_b64.is_empty() && header.alg_name != AlgName::None {
            return Err(JwsError::EmptySignature);
        }
        let signature_start = decoded.len();
        decoded.extend(
            base64url::decode(signature_b64).map_err(|e| JwsError::Base64(Part::Signature, e))?,
        );
        Ok(Self {
            header,
            signing_input,
            decoded,
            payload_start,
            signature_start,
        })
    }

    /// The decoded header JSON (strictly valid: [`CompactJws::parse`] checked it).
    pub fn header_json(&self) -> &[u8] {
        &self.decoded[..self.payload_start]
    }

    /// Decoded payload bytes (not interpreted here).
    pub fn payload(&self) -> &[u8] {
        &self.decoded[self.payload_start..self.signature_start]
    }

    /// Decoded signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.decoded[self.signature_start..]
    }

    /// All header members as a JSON map, for inspection and the evaluation trace. Built on
    /// demand: validation itself never needs it.
    pub fn header_members(&self) -> Map<String, Value> {
        // Cannot fail: parse() accepted this header under the same strict rules.
        strict_json::parse_object(self.header_json()).unwrap_or_default()
    }
}

fn parse_header(bytes: &[u8]) -> Result<JwsHeader, JwsError> {
    let object = RawObject::parse(bytes).map_err(JwsError::HeaderJson)?;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    let (mut crit, mut b64, mut nonce) = (false, false, false);
    let mut key_locating = [false; KEY_LOCATING_MEMBERS.len()];
    for (name, raw) in object.members() {
        match name {
            "alg" => alg = Some(raw),
            "kid" => kid = Some(raw),
            "typ" => typ = Some(raw),
            "crit" => crit = true,
            "b64" => b64 = true,
            "nonce" => nonce = true,
            other => {
                if let Some(i) = KEY_LOCATING_MEMBERS.iter().position(|m| *m == other) {
                    key_locating[i] = true;
                }
            }
        }
    }
    let alg = alg
        .and_then(|raw| raw.as_str())
        .ok_or(JwsError::MissingAlg)?;
    if crit {
        return Err(JwsError::Critical);
    }
    if b64 {
        return Err(JwsError::UnencodedPayload);
    }
    if nonce {
        return Err(JwsError::HeaderNonce);
    }
    let kid = match kid.map(|raw| raw.as_str()) {
        None => None,
        Some(Some(kid)) if kid.len() <= MAX_KID_LEN => Some(kid.into_owned()),
        Some(_) => return Err(JwsError::BadKid),
    };
    let typ = match typ.map(|raw| raw.as_str()) {
        None => None,
        Some(Some(typ)) => Some(typ.into_owned()),
        Some(None) => return Err(JwsError::BadTyp),
    };
    let ignored_key_members = KEY_LOCATING_MEMBERS
        .into_iter()
        .zip(key_locating)
        .filter_map(|(member, present)| present.then_some(member))
        .collect();
    let alg_name = AlgName::classify(&alg);
    let alg = match alg_name {
        AlgName::Supported(supported) => Cow::Borrowed(supported.name()),
        _ => Cow::Owned(alg.into_owned()),
    };
    Ok(JwsHeader {
        alg,
        alg_name,
        kid,
        typ,
        ignored_key_members,
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
        assert_eq!(jws.signature(), [0, 0, 0]);
        assert_eq!(jws.payload(), b"{}");
        let members = jws.header_members();
        assert_eq!(members.len(), 3);
        assert_eq!(members["jku"], "https://evil");
        assert!(t.starts_with(jws.signing_input));
        assert_eq!(jws.signing_input.matches('.').count(), 1);
    }

    fn same_parts(a: &CompactJws<'_>, b: &CompactJws<'_>) -> bool {
        a.signing_input == b.signing_input
            && a.header_json() == b.header_json()
            && a.payload() == b.payload()
            && a.signature() == b.signature()
            && a.header.alg == b.header.alg
            && a.header.kid == b.header.kid
            && a.header.typ == b.header.typ
            && a.header.ignored_key_members == b.header.ignored_key_members
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        /// The fast path and the rule-by-rule reference agree on every input: same parts or
        /// same error.
        #[test]
        fn fast_path_agrees_with_the_reference(
            header in proptest::sample::select(&[
                r#"{"alg":"RS256"}"#, r#"{"alg":"none"}"#, r#"{"alg":"RS256","kid":"k"}"#,
                r#"{"alg":1}"#, "{", "",
            ][..]),
            payload in "[a-z{}\":, ]{0,12}",
            signature in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
            noise in "[A-Za-z0-9_.=+/ -]{0,3}",
            at in proptest::prelude::any::<proptest::sample::Index>(),
        ) {
            let clean = token(header, &payload, &base64url::encode(&signature));
            let at = at.index(clean.len() + 1);
            let noisy = format!("{}{noise}{}", &clean[..at], &clean[at..]);
            for t in [clean, noisy] {
                let (fast, reference) = (CompactJws::parse(&t), CompactJws::parse_reference(&t));
                match (&fast, &reference) {
                    (Ok(a), Ok(b)) => proptest::prop_assert!(same_parts(a, b), "{t}"),
                    (Err(a), Err(b)) => proptest::prop_assert_eq!(a, b, "{}", t),
                    _ => proptest::prop_assert!(false, "{t}: {fast:?} vs {reference:?}"),
                }
            }
        }
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
        let escaped = token(
            r#"{"\u0061lg":"RS\u0032\u00356","kid":"a\/b"}"#,
            "{}",
            "AAAA",
        );
        let header = CompactJws::parse(&escaped).unwrap().header;
        assert_eq!(header.alg_name, AlgName::Supported(crate::Algorithm::RS256));
        assert_eq!(header.kid.as_deref(), Some("a/b"));
        let duplicate = token(r#"{"alg":"RS256","\u0061lg":"none"}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&duplicate).unwrap_err(),
            JwsError::HeaderJson(JsonError::DuplicateMember("alg".into()))
        );
        let null_kid = token(r#"{"alg":"RS256","kid":null}"#, "{}", "AAAA");
        assert_eq!(CompactJws::parse(&null_kid).unwrap_err(), JwsError::BadKid);
        let numeric_typ = token(r#"{"alg":"RS256","typ":1}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&numeric_typ).unwrap_err(),
            JwsError::BadTyp
        );
        let numeric_alg = token(r#"{"alg":256}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&numeric_alg).unwrap_err(),
            JwsError::MissingAlg
        );
        let bad_header_and_payload = format!("{}.*.AAAA", base64url::encode(b"{"));
        assert!(matches!(
            CompactJws::parse(&bad_header_and_payload).unwrap_err(),
            JwsError::HeaderJson(_)
        ));
        let bad_payload = token(r#"{"alg":"RS256"}"#, "{}", "AAAA").replacen(".e30", ".e3=", 1);
        assert_eq!(
            CompactJws::parse(&bad_payload).unwrap_err(),
            JwsError::Base64(Part::Payload, Base64Error::InvalidCharacter)
        );
        let jwe_with_bad_base64 = "*.*.*.*.*";
        assert_eq!(
            CompactJws::parse(jwe_with_bad_base64).unwrap_err(),
            JwsError::Encrypted
        );
        let numeric_kid = token(r#"{"alg":"RS256","kid":7}"#, "{}", "AAAA");
        assert_eq!(
            CompactJws::parse(&numeric_kid).unwrap_err(),
            JwsError::BadKid
        );
    }
}

//! JWK and JWK Set parsing (RFC 7517, RFC 7518 §6, RFC 8037 §2).
//!
//! A JWK Set is parsed key by key: a key we cannot or must not use is *ignored with a reason*
//! (RFC 7517 §5 says to ignore unknown keys), never a reason to drop the whole set. The set as a
//! whole fails only when the document itself is unusable (not JSON, no `keys` array).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::algorithm::{AlgName, Algorithm, Curve, KeyFamily};
use crate::base64url;
use crate::crypto::VerifyingKey;
use crate::strict_json::{self, JsonError};

pub use crate::key_reason::{KeyIgnoredReason, MAX_KEYS, MAX_KID_LEN};

/// A key of the set that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The key's `kid`, if it had a usable one.
    pub kid: Option<String>,
    /// The key's `kty`, if present.
    pub kty: Option<String>,
    /// Why it is ignored.
    pub reason: KeyIgnoredReason,
}

/// A usable key with its identifiers.
#[derive(Debug)]
pub struct Jwk {
    /// Position in the `keys` array.
    pub index: usize,
    /// The `kid`, if any.
    pub kid: Option<String>,
    /// The key's own `issuer` member (Entra v2 publishes one per key, possibly a `{tenantid}`
    /// template): when present, the key may only verify tokens of that issuer.
    pub issuer: Option<String>,
    /// The parsed key.
    pub key: VerifyingKey,
}

/// Why a whole JWK Set document is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkSetError {
    /// Not strict JSON.
    #[error("JWKS is not valid JSON: {0}")]
    Json(#[from] JsonError),
    /// No `keys` array.
    #[error("JWKS has no `keys` array")]
    MissingKeys,
}

/// A parsed JWK Set: usable keys, indexed by `kid`, plus the ignored ones with reasons.
#[derive(Debug, Default)]
pub struct JwkSet {
    keys: Vec<Arc<Jwk>>,
    by_kid: HashMap<String, usize>,
    ignored: Vec<IgnoredKey>,
}

impl JwkSet {
    /// Parses a JWK Set document.
    pub fn parse(document: &[u8]) -> Result<Self, JwkSetError> {
        let root = strict_json::parse_object(document)?;
        let Some(Value::Array(entries)) = root.get("keys") else {
            return Err(JwkSetError::MissingKeys);
        };
        Ok(Self::from_entries(entries))
    }

    /// Builds a set from already-parsed key entries.
    pub fn from_entries(entries: &[Value]) -> Self {
        let mut parsed: Vec<Jwk> = Vec::new();
        let mut ignored = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry
                .get("kid")
                .and_then(Value::as_str)
                .filter(|k| k.len() <= MAX_KID_LEN)
                .map(str::to_owned);
            let kty = entry.get("kty").and_then(Value::as_str).map(str::to_owned);
            if index >= MAX_KEYS {
                ignored.push(IgnoredKey {
                    index,
                    kid,
                    kty,
                    reason: KeyIgnoredReason::TooManyKeys,
                });
                continue;
            }
            match parse_jwk(entry) {
                Ok(key) => {
                    let issuer = entry
                        .get("issuer")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    parsed.push(Jwk {
                        index,
                        kid,
                        issuer,
                        key,
                    })
                }
                Err(reason) => ignored.push(IgnoredKey {
                    index,
                    kid,
                    kty,
                    reason,
                }),
            }
        }

        // Conflicting duplicate kids: keep none of them. Identical re-publications of one key
        // (same SPKI) are harmless and collapse to the first.
        let mut spki_by_kid: HashMap<&str, Vec<PositionedSpki>> = HashMap::new();
        for (pos, jwk) in parsed.iter().enumerate() {
            if let Some(kid) = &jwk.kid {
                spki_by_kid
                    .entry(kid)
                    .or_default()
                    .push((pos, jwk.key.spki_der()));
            }
        }
        let mut drop = vec![false; parsed.len()];
        let mut conflicting = vec![false; parsed.len()];
        for group in spki_by_kid.values().filter(|g| g.len() > 1) {
            let first = &group[0].1;
            let all_same = first.is_some() && group.iter().all(|(_, spki)| spki == first);
            for (n, (pos, _)) in group.iter().enumerate() {
                if all_same {
                    drop[*pos] = n > 0;
                } else {
                    drop[*pos] = true;
                    conflicting[*pos] = true;
                }
            }
        }
        let mut set = JwkSet {
            ignored,
            ..Default::default()
        };
        for (pos, jwk) in parsed.into_iter().enumerate() {
            if conflicting[pos] {
                set.ignored.push(IgnoredKey {
                    index: jwk.index,
                    kid: jwk.kid,
                    kty: Some(jwk.key.params().kty().to_owned()),
                    reason: KeyIgnoredReason::DuplicateKid,
                });
            } else if !drop[pos] {
                if let Some(kid) = &jwk.kid {
                    set.by_kid.insert(kid.clone(), set.keys.len());
                }
                set.keys.push(Arc::new(jwk));
            }
        }
        set.ignored.sort_by_key(|k| k.index);
        set
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Arc<Jwk>] {
        &self.keys
    }

    /// The key with this `kid`, if the set has a usable one.
    pub fn by_kid(&self, kid: &str) -> Option<&Arc<Jwk>> {
        self.by_kid.get(kid).map(|i| &self.keys[*i])
    }

    /// Keys that were not usable, with reasons.
    pub fn ignored(&self) -> &[IgnoredKey] {
        &self.ignored
    }

    /// Whether at least one key is usable (a set without one is a failed fetch).
    pub fn has_usable_key(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The `kid`s of the usable keys.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }
}

/// A key's position among the parsed keys and its SubjectPublicKeyInfo, to compare duplicates.
type PositionedSpki = (usize, Option<Vec<u8>>);

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fn b64_member(jwk: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, KeyIgnoredReason> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(KeyIgnoredReason::MissingMember(name))?;
    base64url::decode(text).map_err(|_| KeyIgnoredReason::BadEncoding(name))
}

fn parse_jwk(entry: &Value) -> Result<VerifyingKey, KeyIgnoredReason> {
    let jwk = entry.as_object().ok_or(KeyIgnoredReason::NotAnObject)?;
    if let Some(kid) = jwk.get("kid")
        && kid.as_str().is_none_or(|k| k.len() > MAX_KID_LEN)
    {
        return Err(KeyIgnoredReason::BadKid);
    }
    let kty = jwk
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(KeyIgnoredReason::MissingKty)?;
    if kty == "oct" {
        return Err(KeyIgnoredReason::SymmetricKey);
    }
    if let Some(member) = PRIVATE_MEMBERS.into_iter().find(|m| jwk.contains_key(*m)) {
        return Err(KeyIgnoredReason::PrivateKeyMaterial(member));
    }
    check_use_and_key_ops(jwk)?;
    let pinned = pinned_alg(jwk)?;

    let key = match kty {
        "RSA" => {
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            if let Some(alg) = pinned
                && alg.key_family() != KeyFamily::Rsa
            {
                return Err(alg_mismatch(alg, "RSA"));
            }
            VerifyingKey::rsa(&n, &e, pinned)?
        }
        "EC" => {
            let crv = jwk
                .get("crv")
                .and_then(Value::as_str)
                .ok_or(KeyIgnoredReason::MissingMember("crv"))?;
            let curve = Curve::from_name(crv)
                .ok_or_else(|| KeyIgnoredReason::UnsupportedCurve(crv.to_owned()))?;
            if let Some(alg) = pinned
                && alg.key_family() != KeyFamily::Ec(curve)
            {
                return Err(alg_mismatch(alg, &format!("EC {crv}")));
            }
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            VerifyingKey::ec(curve, &x, &y)?
        }
        "OKP" => {
            let crv = jwk
                .get("crv")
                .and_then(Value::as_str)
                .ok_or(KeyIgnoredReason::MissingMember("crv"))?;
            if crv != "Ed25519" {
                return Err(KeyIgnoredReason::UnsupportedCurve(crv.to_owned()));
            }
            if let Some(alg) = pinned
                && alg != Algorithm::EdDSA
            {
                return Err(alg_mismatch(alg, "OKP Ed25519"));
            }
            VerifyingKey::ed25519(&b64_member(jwk, "x")?)?
        }
        other => return Err(KeyIgnoredReason::UnsupportedKty(other.to_owned())),
    };
    check_certificate(jwk, &key)?;
    Ok(key)
}

fn alg_mismatch(alg: Algorithm, kty: &str) -> KeyIgnoredReason {
    KeyIgnoredReason::AlgKeyMismatch {
        alg: alg.name().to_owned(),
        kty: kty.to_owned(),
    }
}

fn pinned_alg(jwk: &Map<String, Value>) -> Result<Option<Algorithm>, KeyIgnoredReason> {
    let Some(alg) = jwk.get("alg") else {
        return Ok(None);
    };
    let name = alg.as_str().ok_or(KeyIgnoredReason::MissingMember("alg"))?;
    match AlgName::classify(name) {
        AlgName::Supported(alg) => Ok(Some(alg)),
        _ => Err(KeyIgnoredReason::UnsupportedAlg(name.to_owned())),
    }
}

fn check_use_and_key_ops(jwk: &Map<String, Value>) -> Result<(), KeyIgnoredReason> {
    let key_use = match jwk.get("use") {
        None => None,
        Some(Value::String(u)) => Some(u.as_str()),
        Some(_) => return Err(KeyIgnoredReason::MissingMember("use")),
    };
    if let Some(u) = key_use
        && u != "sig"
    {
        return Err(KeyIgnoredReason::NotForSignatures(u.to_owned()));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops
            .as_array()
            .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .ok_or(KeyIgnoredReason::MissingMember("key_ops"))?;
        if !ops.contains(&"verify") {
            return Err(KeyIgnoredReason::KeyOpsExcludeVerify);
        }
        // With `use`=sig present, every operation must be a signature operation.
        if key_use.is_some() && ops.iter().any(|op| *op != "verify" && *op != "sign") {
            return Err(KeyIgnoredReason::UseKeyOpsConflict);
        }
    }
    Ok(())
}

/// `x5c` is never a source of keys (RFC 8725 §3.10); when present it must at least agree with
/// the key, because a mismatch means the IdP's metadata is broken or tampered with. The first
/// certificate's DER must contain the key's SubjectPublicKeyInfo verbatim, which is how X.509
/// embeds it; we do not parse or trust the certificate beyond that.
fn check_certificate(jwk: &Map<String, Value>, key: &VerifyingKey) -> Result<(), KeyIgnoredReason> {
    let Some(chain) = jwk.get("x5c") else {
        return Ok(());
    };
    let first = chain
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or(KeyIgnoredReason::MissingMember("x5c"))?;
    let der =
        base64url::decode_standard(first).map_err(|_| KeyIgnoredReason::BadEncoding("x5c"))?;
    let spki = key
        .spki_der()
        .ok_or(KeyIgnoredReason::CertificateMismatch)?;
    if der.windows(spki.len()).any(|w| w == spki.as_slice()) {
        Ok(())
    } else {
        Err(KeyIgnoredReason::CertificateMismatch)
    }
}

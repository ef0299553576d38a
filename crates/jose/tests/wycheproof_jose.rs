//! Every case of Wycheproof's JOSE vectors (`json_web_signature_test.json`,
//! `json_web_key_test.json`, read from `tests/data/wycheproof`) run through the product's compact
//! JWS path: strict parse, `alg` classification, key selection, signature verification.
//!
//! Our policy on top of the file's verdicts: every HMAC (`HS*`) case and every JSON-serialization
//! case is rejected whatever the file says. Any other case where we differ from the file is listed
//! in [`deviations`] with its reason, and asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis_jose::{
    AlgName, Algorithm, CompactJws, JwkSet, JwsError, KeyIgnoredReason, SignatureError, base64url,
};
use serde_json::Value;

/// The two Wycheproof JOSE files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VectorFile {
    /// `json_web_signature_test.json`.
    Jws,
    /// `json_web_key_test.json`.
    Jwk,
}

impl VectorFile {
    fn file_name(self) -> &'static str {
        match self {
            VectorFile::Jws => "json_web_signature_test.json",
            VectorFile::Jwk => "json_web_key_test.json",
        }
    }
}

/// Why the product refused a case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rejection {
    /// The `jws` member is not a string (a JSON serialization given as an object).
    NotAString,
    /// `CompactJws::parse` refused the token's shape.
    Shape(JwsError),
    /// The header `alg` is not one we verify (`none`, HMAC, unknown).
    Alg(AlgName),
    /// The header `kid` names no key of the set, not even an ignored one.
    UnknownKid,
    /// The only candidate key was ignored when the set was loaded.
    KeyIgnored(KeyIgnoredReason),
    /// No `kid`, and no usable key supports the algorithm.
    NoKeyForAlg,
    /// The selected key refused the signature.
    Signature(SignatureError),
}

impl Rejection {
    /// Equality, except that the free-text detail of `InvalidKeyMaterial` is not compared.
    fn same_kind(&self, other: &Rejection) -> bool {
        match (self, other) {
            (
                Rejection::KeyIgnored(KeyIgnoredReason::InvalidKeyMaterial(_)),
                Rejection::KeyIgnored(KeyIgnoredReason::InvalidKeyMaterial(_)),
            ) => true,
            _ => self == other,
        }
    }

    fn stage(&self) -> &'static str {
        match self {
            Rejection::NotAString => "not a string",
            Rejection::Shape(_) => "shape",
            Rejection::Alg(_) => "alg",
            Rejection::UnknownKid => "unknown kid",
            Rejection::KeyIgnored(_) => "key ignored",
            Rejection::NoKeyForAlg => "no key for alg",
            Rejection::Signature(_) => "signature",
        }
    }
}

/// What the product does with a case where it deliberately or knowingly differs from the file.
#[derive(Debug)]
enum Ours {
    /// We reject a case the file marks valid, with exactly this rejection. (Accepting a case the
    /// file marks invalid is never a deliberate deviation: it would be a bug.)
    Rejected(Rejection),
}

/// A case where the product's verdict differs from the file's.
struct Deviation {
    file: VectorFile,
    tc_id: u64,
    ours: Ours,
    reason: &'static str,
}

/// Every case (other than the HMAC / JSON-serialization policy) where our verdict is not the
/// file's. Each entry is asserted: the file's verdict is the opposite of ours, and ours holds.
fn deviations() -> Vec<Deviation> {
    let unsupported_alg = |alg: &str| KeyIgnoredReason::UnsupportedAlg(alg.to_owned());
    vec![
        Deviation {
            file: VectorFile::Jws,
            tc_id: 346,
            ours: Ours::Rejected(Rejection::Signature(SignatureError::AlgorithmNotForKey)),
            reason: "key pins alg PS256, token is PS384: a JWK `alg` binds its key (RFC 8725 §3.1)",
        },
        Deviation {
            file: VectorFile::Jws,
            tc_id: 350,
            ours: Ours::Rejected(Rejection::Signature(SignatureError::AlgorithmNotForKey)),
            reason: "as tcId 346, with key_ops [verify]: key pins PS256, token is PS384",
        },
        Deviation {
            file: VectorFile::Jws,
            tc_id: 347,
            ours: Ours::Rejected(Rejection::KeyIgnored(unsupported_alg("ES521"))),
            reason: "key alg \"ES521\" is not a JWS algorithm (ES512 is): the key is ignored",
        },
        Deviation {
            file: VectorFile::Jws,
            tc_id: 351,
            ours: Ours::Rejected(Rejection::KeyIgnored(unsupported_alg("ES521"))),
            reason: "as tcId 347, with key_ops [verify]: key alg \"ES521\" is not a JWS algorithm",
        },
    ]
}

/// File-invalid cases whose rejection must come from the key set, with the reason the key was
/// ignored (for `InvalidKeyMaterial` only the variant is compared, not the product's text).
fn key_rejections() -> Vec<(VectorFile, u64, KeyIgnoredReason)> {
    let not_for_signatures = KeyIgnoredReason::NotForSignatures("enc".to_owned());
    let unsupported_alg = |alg: &str| KeyIgnoredReason::UnsupportedAlg(alg.to_owned());
    let invalid_material = KeyIgnoredReason::InvalidKeyMaterial(String::new());
    vec![
        (VectorFile::Jws, 353, not_for_signatures.clone()),
        (VectorFile::Jws, 354, not_for_signatures.clone()),
        (VectorFile::Jws, 355, KeyIgnoredReason::KeyOpsExcludeVerify),
        (VectorFile::Jws, 356, KeyIgnoredReason::KeyOpsExcludeVerify),
        (VectorFile::Jwk, 6, not_for_signatures.clone()),
        (VectorFile::Jwk, 7, KeyIgnoredReason::RsaRocaVulnerable),
        (
            VectorFile::Jwk,
            8,
            KeyIgnoredReason::RsaTooSmall { bits: 1024 },
        ),
        (VectorFile::Jwk, 9, KeyIgnoredReason::RsaBadExponent),
        (VectorFile::Jwk, 19, unsupported_alg("ES521")),
        (VectorFile::Jwk, 20, unsupported_alg("ES224")),
        (VectorFile::Jwk, 21, not_for_signatures.clone()),
        (VectorFile::Jwk, 22, invalid_material),
        (
            VectorFile::Jwk,
            23,
            KeyIgnoredReason::AlgKeyMismatch {
                alg: "ES256".to_owned(),
                kty: "EC P-384".to_owned(),
            },
        ),
        (VectorFile::Jwk, 24, KeyIgnoredReason::MissingMember("n")),
    ]
}

fn load(file: VectorFile) -> Value {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "data",
        "wycheproof",
        file.file_name(),
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The JWK entries of a group's `public` or `private` member: one JWK or `{"keys":[...]}`.
fn jwk_entries(group: &Value, member: &str) -> Vec<Value> {
    match group.get(member) {
        None => Vec::new(),
        Some(Value::Object(jwk)) => match jwk.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            _ => vec![Value::Object(jwk.clone())],
        },
        Some(other) => panic!("unexpected `{member}` in test group: {other}"),
    }
}

/// The product's verdict on one case.
fn evaluate(jws: &Value, keys: &JwkSet) -> Result<Algorithm, Rejection> {
    let token = jws.as_str().ok_or(Rejection::NotAString)?;
    let parsed = CompactJws::parse(token).map_err(Rejection::Shape)?;
    let alg = match parsed.header.alg_name {
        AlgName::Supported(alg) => alg,
        other => return Err(Rejection::Alg(other)),
    };
    let jwk = match &parsed.header.kid {
        Some(kid) => keys.by_kid(kid).ok_or_else(|| {
            match keys
                .ignored()
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()))
            {
                Some(ignored) => Rejection::KeyIgnored(ignored.reason.clone()),
                None => Rejection::UnknownKid,
            }
        })?,
        None => keys
            .keys()
            .iter()
            .find(|k| k.key.supports(alg))
            .ok_or_else(|| match keys.ignored().first() {
                Some(ignored) => Rejection::KeyIgnored(ignored.reason.clone()),
                None => Rejection::NoKeyForAlg,
            })?,
    };
    jwk.key
        .verify(alg, parsed.signing_input.as_bytes(), parsed.signature())
        .map_err(Rejection::Signature)?;
    Ok(alg)
}

/// JWK members holding a secret or private key (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const SECRET_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Cases the product must reject whatever the file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Policy {
    /// JWS JSON serialization (RFC 7515 §7.2): only compact tokens are accepted.
    JsonSerialization,
    /// HMAC: a third-party validator never holds a shared secret.
    Hmac,
}

/// The header `alg`, decoded leniently (for classifying the case, not for verifying).
fn header_alg(token: &str) -> Option<String> {
    let header = base64url::decode(token.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

fn policy_of(jws: &Value, flags: &[Value], symmetric_group: bool) -> Option<Policy> {
    let json_serialization = match jws.as_str() {
        None => true,
        Some(token) => token.trim_start().starts_with('{'),
    } || flags.iter().any(|f| f == "JsonSerialization");
    let hmac = symmetric_group
        || jws
            .as_str()
            .and_then(header_alg)
            .is_some_and(|alg| AlgName::classify(&alg) == AlgName::Hmac);
    if json_serialization {
        Some(Policy::JsonSerialization)
    } else if hmac {
        Some(Policy::Hmac)
    } else {
        None
    }
}

/// Counts printed at the end of a run.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    accepted: usize,
    rejected_by_stage: BTreeMap<&'static str, usize>,
    policy: BTreeMap<String, usize>,
    policy_overriding_valid: usize,
    deviations: usize,
}

fn run(file: VectorFile) -> Tally {
    let doc = load(file);
    let groups = doc["testGroups"].as_array().expect("testGroups array");
    let mut tally = Tally::default();
    let mut failures: Vec<String> = Vec::new();
    let deviations = deviations();
    let key_rejections = key_rejections();
    let mut deviations_seen: Vec<u64> = Vec::new();
    let mut key_rejections_seen: Vec<u64> = Vec::new();

    for group in groups {
        let public = jwk_entries(group, "public");
        let private = jwk_entries(group, "private");
        // A group with only private keys is a symmetric (HMAC) group.
        let symmetric_group = public.is_empty();
        if symmetric_group {
            assert!(
                private.iter().any(|k| k["kty"] == "oct"),
                "{}: group {} has no public key and no oct key",
                file.file_name(),
                group["comment"]
            );
        }
        // Secret and private JWKs never become verification keys, so even a deployment
        // misconfigured with them could not verify an HMAC or a forged token. (Some `private`
        // members hold public keys, e.g. the EC key of "jws_mixedSymmetryKeyset".)
        for jwk in &private {
            let has_secret = SECRET_MEMBERS.iter().any(|m| jwk.get(m).is_some());
            let set = JwkSet::from_entries(std::slice::from_ref(jwk));
            if has_secret {
                let reasons: Vec<_> = set.ignored().iter().map(|k| &k.reason).collect();
                assert!(
                    matches!(
                        reasons.as_slice(),
                        [
                            KeyIgnoredReason::SymmetricKey
                                | KeyIgnoredReason::PrivateKeyMaterial(_)
                        ]
                    ),
                    "{}: secret JWK {} of group {} not ignored as secret: {reasons:?}",
                    file.file_name(),
                    jwk["kid"],
                    group["comment"]
                );
            }
        }

        let keys = JwkSet::from_entries(&public);

        for case in group["tests"].as_array().expect("tests array") {
            let tc_id = case["tcId"].as_u64().expect("tcId");
            let file_valid = match case["result"].as_str() {
                Some("valid") => true,
                Some("invalid") => false,
                other => panic!("tcId {tc_id}: unexpected result {other:?}"),
            };
            let flags = case["flags"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let what = format!(
                "{} tcId {tc_id} ({}, file: {})",
                file.file_name(),
                case["comment"].as_str().unwrap_or_default(),
                case["result"].as_str().unwrap_or_default(),
            );

            let outcome = evaluate(&case["jws"], &keys);
            tally.cases += 1;
            match &outcome {
                Ok(_) => tally.accepted += 1,
                Err(rejection) => {
                    *tally
                        .rejected_by_stage
                        .entry(rejection.stage())
                        .or_default() += 1
                }
            }

            let deviation = deviations
                .iter()
                .find(|d| d.file == file && d.tc_id == tc_id);
            let key_rejection = key_rejections
                .iter()
                .find(|(f, id, _)| *f == file && *id == tc_id);

            if let Some(policy) = policy_of(&case["jws"], flags, symmetric_group) {
                *tally.policy.entry(format!("{policy:?}")).or_default() += 1;
                if file_valid {
                    tally.policy_overriding_valid += 1;
                }
                if deviation.is_some() || key_rejection.is_some() {
                    failures.push(format!("{what}: policy case must not be listed in a table"));
                }
                if let Ok(alg) = outcome {
                    failures.push(format!("{what}: {policy:?} case accepted as {alg}"));
                }
            } else if let Some(deviation) = deviation {
                deviations_seen.push(tc_id);
                tally.deviations += 1;
                match (&deviation.ours, &outcome) {
                    (Ours::Rejected(expected), Err(actual)) if file_valid => {
                        if !expected.same_kind(actual) {
                            failures.push(format!(
                                "{what}: expected rejection {expected:?}, got {actual:?} ({})",
                                deviation.reason
                            ));
                        }
                    }
                    _ => failures.push(format!(
                        "{what}: deviation table says {:?} ({}), got {outcome:?}",
                        deviation.ours, deviation.reason
                    )),
                }
            } else if file_valid {
                if let Err(rejection) = &outcome {
                    failures.push(format!("{what}: valid case rejected: {rejection:?}"));
                }
            } else {
                match (&outcome, key_rejection) {
                    (Ok(alg), _) => {
                        failures.push(format!("{what}: invalid case accepted as {alg}"));
                    }
                    (Err(actual), Some((_, _, reason))) => {
                        key_rejections_seen.push(tc_id);
                        let expected = Rejection::KeyIgnored(reason.clone());
                        if !expected.same_kind(actual) {
                            failures.push(format!(
                                "{what}: expected rejection {expected:?}, got {actual:?}"
                            ));
                        }
                    }
                    (Err(_), None) => {}
                }
            }
        }
    }

    // Every table entry for this file must have matched a case.
    for deviation in deviations.iter().filter(|d| d.file == file) {
        if !deviations_seen.contains(&deviation.tc_id) {
            failures.push(format!(
                "deviations() entry tcId {} matched no case",
                deviation.tc_id
            ));
        }
    }
    for (_, tc_id, _) in key_rejections.iter().filter(|(f, _, _)| *f == file) {
        if !key_rejections_seen.contains(tc_id) {
            failures.push(format!(
                "key_rejections() entry tcId {tc_id} matched no case"
            ));
        }
    }

    let expected_total = doc["numberOfTests"].as_u64().expect("numberOfTests");
    assert_eq!(
        tally.cases as u64,
        expected_total,
        "{}: cases run",
        file.file_name()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    tally
}

fn report(label: &str, tally: &Tally) {
    println!("wycheproof {label}: {} cases", tally.cases);
    println!("  accepted: {}", tally.accepted);
    println!("  rejected by stage: {:?}", tally.rejected_by_stage);
    println!(
        "  policy (rejected whatever the file says): {:?}, of which file-valid: {}",
        tally.policy, tally.policy_overriding_valid
    );
    println!("  listed deviations: {}", tally.deviations);
}

#[test]
fn json_web_signature_vectors() {
    let tally = run(VectorFile::Jws);
    report("JWS", &tally);
    assert_eq!(tally.cases, 401);
    assert_eq!(tally.deviations, 4);
}

#[test]
fn json_web_key_vectors() {
    let tally = run(VectorFile::Jwk);
    report("JWK", &tally);
    assert_eq!(tally.cases, 26);
    assert_eq!(tally.deviations, 0);
}

//! Published JOSE examples: RFC 7520 §4.1–4.4, RFC 8037 (Ed25519) and RFC 7797 (`b64`), read
//! from `tests/data/rfc7520`. Only compact serializations are used: JSON serializations are not
//! supported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use portcullis_jose::{
    AlgName, Algorithm, CompactJws, JwkSet, JwsError, KeyIgnoredReason, SignatureError,
    VerifyingKey, base64url,
};
use serde_json::{Map, Value, json};

/// JWK members that carry private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn data_path(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "data", "rfc7520", name]
        .iter()
        .collect()
}

fn load(name: &str) -> Value {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn str_at<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("test data has no string at {pointer}"))
}

/// The JWK without its private members.
fn public_part(jwk: &Value) -> Value {
    let mut members: Map<String, Value> = jwk.as_object().expect("JWK is an object").clone();
    members.retain(|name, _| !PRIVATE_MEMBERS.contains(&name.as_str()));
    Value::Object(members)
}

/// Parses `{"keys":[jwk]}` through the public JWK Set entry point.
fn key_set_of(jwk: &Value) -> JwkSet {
    let document = json!({ "keys": [jwk] }).to_string();
    JwkSet::parse(document.as_bytes()).expect("a well-formed JWK Set document")
}

/// Chooses the key as the gateway does: by `kid` when the header has one, else any key that
/// supports the algorithm.
fn select<'s>(set: &'s JwkSet, jws: &CompactJws<'_>, alg: Algorithm) -> &'s VerifyingKey {
    let jwk = match &jws.header.kid {
        Some(kid) => set.by_kid(kid),
        None => set.keys().iter().find(|k| k.key.supports(alg)),
    };
    &jwk.expect("a usable key for the example").key
}

/// One published signature example that must verify.
struct SignatureExample {
    /// The example file in `tests/data/rfc7520`.
    file: &'static str,
    /// The separate public-key file the RFC publishes, if any (else the example's own key,
    /// stripped of its private members, is used).
    public_key_file: Option<&'static str>,
    alg: Algorithm,
}

const SIGNATURE_EXAMPLES: [SignatureExample; 4] = [
    // RFC 7520 §4.1: RSA v1.5 signature with the §3.3 key.
    SignatureExample {
        file: "jws_4_1.rsa_v15_signature.json",
        public_key_file: Some("jwk_3_3.rsa_public_key.json"),
        alg: Algorithm::RS256,
    },
    // RFC 7520 §4.2: RSA-PSS signature with the §3.3 key (non-deterministic signature).
    SignatureExample {
        file: "jws_4_2.rsa-pss_signature.json",
        public_key_file: Some("jwk_3_3.rsa_public_key.json"),
        alg: Algorithm::PS384,
    },
    // RFC 7520 §4.3: ECDSA P-521 signature with the §3.1 key.
    SignatureExample {
        file: "jws_4_3.ecdsa_signature.json",
        public_key_file: Some("jwk_3_1.ec_public_key.json"),
        alg: Algorithm::ES512,
    },
    // RFC 8037 Appendix A.4/A.5: Ed25519 signature.
    SignatureExample {
        file: "curve25519_jws.json",
        public_key_file: None,
        alg: Algorithm::EdDSA,
    },
];

#[test]
fn published_signature_examples_verify() {
    for example in &SIGNATURE_EXAMPLES {
        let doc = load(example.file);
        let name = example.file;
        let private_jwk = doc.pointer("/input/key").expect("example has an input key");
        let public_jwk = match example.public_key_file {
            Some(file) => {
                let published = load(file);
                assert_eq!(
                    published,
                    public_part(private_jwk),
                    "{name}: the published public key is the example key without private members"
                );
                published
            }
            None => public_part(private_jwk),
        };

        // The example's key as published includes private members: the set refuses it.
        let with_private = JwkSet::from_entries(std::slice::from_ref(private_jwk));
        assert!(
            !with_private.has_usable_key(),
            "{name}: a private JWK must not be usable"
        );
        assert_eq!(
            with_private.ignored()[0].reason,
            KeyIgnoredReason::PrivateKeyMaterial("d"),
            "{name}"
        );

        let set = key_set_of(&public_jwk);
        assert!(
            set.ignored().is_empty(),
            "{name}: public key ignored: {:?}",
            set.ignored()
        );
        assert_eq!(set.keys().len(), 1, "{name}");

        let compact = str_at(&doc, "/output/compact");
        let jws = CompactJws::parse(compact).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            jws.header.alg_name,
            AlgName::Supported(example.alg),
            "{name}"
        );
        assert_eq!(jws.header.alg, str_at(&doc, "/input/alg"), "{name}");
        assert_eq!(
            jws.signing_input,
            str_at(&doc, "/signing/sig-input"),
            "{name}"
        );
        assert_eq!(
            jws.payload(),
            str_at(&doc, "/input/payload").as_bytes(),
            "{name}"
        );
        let published_sig = base64url::decode(str_at(&doc, "/signing/sig")).unwrap();
        assert_eq!(jws.signature(), published_sig, "{name}");

        let key = select(&set, &jws, example.alg);
        assert!(key.supports(example.alg), "{name}");
        assert_eq!(
            key.verify(example.alg, jws.signing_input.as_bytes(), jws.signature()),
            Ok(()),
            "{name}: published signature must verify"
        );

        // Any one-bit change of the signature must be refused.
        for bit in 0..jws.signature().len() * 8 {
            let mut sig = jws.signature().to_vec();
            sig[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                key.verify(example.alg, jws.signing_input.as_bytes(), &sig),
                Err(SignatureError::Invalid),
                "{name}: signature with bit {bit} flipped verified"
            );
        }
        // A one-bit change of the signed bytes (header and payload ends) must be refused.
        let input = jws.signing_input.as_bytes();
        for index in [0, input.len() / 2, input.len() - 1] {
            let mut tampered = input.to_vec();
            tampered[index] ^= 1;
            assert_eq!(
                key.verify(example.alg, &tampered, jws.signature()),
                Err(SignatureError::Invalid),
                "{name}: signing input with byte {index} changed verified"
            );
        }

        // The signature verifies under no other algorithm (no algorithm confusion).
        for other in Algorithm::ALL.into_iter().filter(|a| *a != example.alg) {
            assert!(
                key.verify(other, input, jws.signature()).is_err(),
                "{name}: also verified as {other}"
            );
        }
    }
}

#[test]
fn rfc7520_hmac_example_is_refused() {
    let doc = load("jws_4_4.hmac-sha2_integrity_protection.json");
    let compact = str_at(&doc, "/output/compact");

    // The token is well-formed, but its algorithm is classified as HMAC and never verified.
    let jws = CompactJws::parse(compact).expect("well-formed compact JWS");
    assert_eq!(jws.header.alg, "HS256");
    assert_eq!(jws.header.alg_name, AlgName::Hmac);
    assert!("HS256".parse::<Algorithm>().is_err());

    // The symmetric key is ignored, so there is nothing to verify with.
    let oct = doc.pointer("/input/key").expect("example has an input key");
    let set = JwkSet::from_entries(std::slice::from_ref(oct));
    assert!(!set.has_usable_key());
    assert_eq!(set.ignored().len(), 1);
    assert_eq!(set.ignored()[0].reason, KeyIgnoredReason::SymmetricKey);
    assert_eq!(
        set.ignored()[0].kid.as_deref(),
        Some("018c0ae5-4d9b-471b-bfd6-eef314bc7037")
    );
    // Also through the JWK Set document entry point.
    let set = key_set_of(oct);
    assert!(!set.has_usable_key());
    assert_eq!(set.ignored()[0].reason, KeyIgnoredReason::SymmetricKey);

    // Key confusion: the MAC does not verify under the RSA public key with any algorithm.
    let rsa = key_set_of(&load("jwk_3_3.rsa_public_key.json"));
    let key = &rsa.keys()[0].key;
    for alg in Algorithm::ALL {
        assert!(
            key.verify(alg, jws.signing_input.as_bytes(), jws.signature())
                .is_err(),
            "{alg}"
        );
    }
}

#[test]
fn rfc7797_unencoded_payload_is_refused() {
    let doc = load("rfc7797_4.2.hmac-sha2_b64_false.json");
    let protected_b64u = str_at(&doc, "/signing/protected_b64u");
    let sig = str_at(&doc, "/signing/sig");
    assert_eq!(
        base64url::decode(protected_b64u).unwrap(),
        br#"{"alg":"HS256","b64":false}"#
    );

    // The RFC publishes no compact form: its payload "$.02" contains a '.', so RFC 7797 §5.2
    // allows only the detached-content compact form (RFC 7515 Appendix F).
    let detached = format!("{protected_b64u}..{sig}");
    assert_eq!(
        CompactJws::parse(&detached).unwrap_err(),
        JwsError::UnencodedPayload
    );

    // Naively splicing the unencoded payload in gives four parts: refused by shape first.
    let spliced = format!("{}.{sig}", str_at(&doc, "/signing/sig-input"));
    assert_eq!(
        CompactJws::parse(&spliced).unwrap_err(),
        JwsError::WrongPartCount(4)
    );

    // The header as RFC 7797 §4.2 specifies it also lists `b64` in `crit`: refused as critical.
    let protected = doc
        .pointer("/signing/protected")
        .expect("protected header object");
    assert_eq!(protected["crit"], json!(["b64"]));
    let with_crit = format!(
        "{}..{sig}",
        base64url::encode(protected.to_string().as_bytes())
    );
    assert_eq!(
        CompactJws::parse(&with_crit).unwrap_err(),
        JwsError::Critical
    );

    // Its key is symmetric, and ignored.
    let oct = doc.pointer("/input/key").expect("example has an input key");
    let set = JwkSet::from_entries(std::slice::from_ref(oct));
    assert!(!set.has_usable_key());
    assert_eq!(set.ignored()[0].reason, KeyIgnoredReason::SymmetricKey);
}

#[test]
fn json_serializations_are_not_compact_tokens() {
    const FILES: [&str; 6] = [
        "jws_4_1.rsa_v15_signature.json",
        "jws_4_2.rsa-pss_signature.json",
        "jws_4_3.ecdsa_signature.json",
        "jws_4_4.hmac-sha2_integrity_protection.json",
        "curve25519_jws.json",
        "rfc7797_4.2.hmac-sha2_b64_false.json",
    ];
    let mut checked = 0;
    for file in FILES {
        let doc = load(file);
        for form in ["/output/json", "/output/json_flat"] {
            let serialized = doc
                .pointer(form)
                .expect("example has JSON serializations")
                .to_string();
            let err = CompactJws::parse(&serialized).expect_err("JSON serialization accepted");
            assert!(
                matches!(err, JwsError::WrongPartCount(_)),
                "{file} {form}: {err:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

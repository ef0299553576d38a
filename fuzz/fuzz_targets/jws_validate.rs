//! Fuzzes the token pipeline end to end: arbitrary bytes as a compact JWS, or fuzzed header and
//! payload JSON signed with the trusted server's real Ed25519 key (so claims checks are reached
//! past the signature), through the full policy `Validator` (plain and traced). Must never panic;
//! an accepted token must be unexpired (within the clock skew).
#![no_main]

use std::sync::{Arc, LazyLock};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use libfuzzer_sys::fuzz_target;
use portcullis_jose::{JwkSet, base64url};
use portcullis_policy::trace::EvaluationTrace;
use portcullis_policy::{Preset, ServerConfig, TrustedServer, Validator};
use serde_json::json;

const ISSUER: &str = "https://idp.example.com";
const NOW: f64 = 1_700_000_000.0;
/// A fixed key, so every crash reproduces from its input alone.
const SEED: [u8; 32] = *b"portcullis-fuzz-ed25519-seed-32b";

static KEY: LazyLock<Ed25519KeyPair> =
    LazyLock::new(|| Ed25519KeyPair::from_seed_unchecked(&SEED).unwrap());

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "fuzz", "alg": "EdDSA",
        "use": "sig", "x": base64url::encode(KEY.public_key().as_ref())}]});
    let keys = JwkSet::parse(jwks.to_string().as_bytes()).unwrap();
    assert!(keys.ignored().is_empty());
    Validator::new(vec![TrustedServer {
        id: "srv-fuzz".into(),
        enabled: true,
        config: ServerConfig::new("fuzz", Preset::Generic)
            .with_issuer(ISSUER)
            .with_audiences(&["api"]),
        keys: Arc::new(keys),
        generation: 1,
    }])
});

fn signed(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header),
        base64url::encode(payload)
    );
    let signature = KEY.sign(input.as_bytes());
    format!("{input}.{}", base64url::encode(signature.as_ref()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => {
            let split = rest.iter().position(|&b| b == 0xFF).unwrap_or(rest.len());
            signed(&rest[..split], rest.get(split + 1..).unwrap_or_default())
        }
        _ => signed(br#"{"alg":"EdDSA","kid":"fuzz","typ":"at+jwt"}"#, rest),
    };
    let plain = VALIDATOR.validate(&token, NOW);
    let mut trace = EvaluationTrace::default();
    let traced = VALIDATOR.validate_traced(&token, NOW, &mut trace);
    assert_eq!(
        plain.is_ok(),
        traced.is_ok(),
        "tracing must not change the decision"
    );
    if let Ok(verified) = plain {
        // `exp` is honoured with the server's clock skew (DESIGN.md: accepted while
        // now < exp + skew), so a token is expired only past that.
        let skew = f64::from(portcullis_policy::config::DEFAULT_CLOCK_SKEW_S);
        assert!(
            verified.expires_at + skew > NOW,
            "accepted a token expired beyond the clock skew"
        );
    }
});

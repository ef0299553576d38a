//! Property tests: hostile input never panics and is always rejected; any single-byte change to
//! an accepted token gets it rejected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, LazyLock};

use portcullis_jose::JwkSet;
use portcullis_policy::{EvaluationTrace, Preset, ServerConfig, TrustedServer, Validator};
use portcullis_testkit::{TestKey, jwks, now};
use proptest::prelude::*;
use serde_json::json;

struct Setup {
    token: String,
    validator: Validator,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let rsa = TestKey::rsa("k1", 2048, "RS256");
    let ec = TestKey::ec("k2", "ES256");
    let keys = JwkSet::parse(jwks(&[&rsa, &ec]).to_string().as_bytes()).unwrap();
    let config = ServerConfig::new("idp", Preset::Generic)
        .with_issuer("https://idp.example.com")
        .with_audiences(&["api://x"]);
    let validator = Validator::new(vec![TrustedServer {
        id: "1".into(),
        enabled: true,
        config,
        keys: Arc::new(keys),
        generation: 1,
    }]);
    let claims = json!({"iss": "https://idp.example.com", "aud": "api://x", "sub": "s", "scope": "a b",
                        "iat": now(), "exp": now() + 3600});
    let token = rsa.sign(&claims);
    assert!(
        validator.validate(&token, now() as f64).is_ok(),
        "the unmodified token must be accepted"
    );
    Setup { token, validator }
});

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_are_rejected_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(SETUP.validator.validate(&text, now() as f64).is_err());
        let mut trace = EvaluationTrace::default();
        prop_assert!(SETUP.validator.validate_traced(&text, now() as f64, &mut trace).is_err());
    }

    #[test]
    fn token_shaped_noise_is_rejected(text in "[A-Za-z0-9_\\-]{0,200}\\.[A-Za-z0-9_\\-]{0,400}\\.[A-Za-z0-9_\\-]{0,400}") {
        prop_assert!(SETUP.validator.validate(&text, now() as f64).is_err());
    }

    #[test]
    fn any_single_byte_change_is_rejected(position in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let original = SETUP.token.as_bytes();
        let at = position.index(original.len());
        prop_assume!(original[at] != replacement);
        let mut changed = original.to_vec();
        changed[at] = replacement;
        let changed = String::from_utf8_lossy(&changed);
        prop_assert!(SETUP.validator.validate(&changed, now() as f64).is_err(), "accepted with byte {at} = {replacement:#x}");
    }

    #[test]
    fn truncations_and_extensions_are_rejected(cut in any::<prop::sample::Index>(), suffix in "[A-Za-z0-9_\\-.]{1,8}") {
        let token = &SETUP.token;
        let at = cut.index(token.len());
        prop_assert!(SETUP.validator.validate(&token[..at], now() as f64).is_err());
        let extended = format!("{token}{suffix}");
        prop_assert!(SETUP.validator.validate(&extended, now() as f64).is_err());
    }
}

#[test]
fn every_position_and_bit_of_the_token_matters() {
    // Exhaustive over positions, one bit flip each: a deterministic companion to the property.
    let original = SETUP.token.as_bytes();
    for at in 0..original.len() {
        for bit in [0x01u8, 0x20] {
            let mut changed = original.to_vec();
            changed[at] ^= bit;
            let changed = String::from_utf8_lossy(&changed);
            assert!(
                SETUP.validator.validate(&changed, now() as f64).is_err(),
                "accepted with byte {at} ^ {bit:#x}"
            );
        }
    }
}

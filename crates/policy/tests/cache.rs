//! The verified-token cache: hits skip verification, and entries die with the token's `exp`
//! and with any change to the verifying server's keys or settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use portcullis_jose::JwkSet;
use portcullis_policy::cache::CacheOutcome;
use portcullis_policy::{Preset, ServerConfig, TrustedServer, Validator, VerifiedTokenCache};
use portcullis_testkit::{TestKey, jwks, now};
use serde_json::json;

fn validator(key: &TestKey, enabled: bool, generation: u64) -> Validator {
    let keys = JwkSet::parse(jwks(&[key]).to_string().as_bytes()).unwrap();
    let config = ServerConfig::new("idp", Preset::Generic).with_issuer("https://idp.example.com");
    Validator::new(vec![TrustedServer {
        id: "1".into(),
        enabled,
        config,
        keys: Arc::new(keys),
        generation,
    }])
}

fn token(key: &TestKey, exp: i64) -> String {
    token_of(key, "s", exp)
}

fn token_of(key: &TestKey, subject: &str, exp: i64) -> String {
    key.sign(&json!({"iss": "https://idp.example.com", "sub": subject, "iat": now(), "exp": exp}))
}

#[test]
fn second_validation_is_a_hit() {
    let key = TestKey::ec("k", "ES256");
    let v = validator(&key, true, 1);
    let cache = VerifiedTokenCache::new(100);
    let t = token(&key, now() + 600);
    let (first, outcome) = cache.validate(&t, now() as f64, &v).unwrap();
    assert_eq!(outcome, CacheOutcome::Miss);
    let (second, outcome) = cache.validate(&t, now() as f64, &v).unwrap();
    assert_eq!(outcome, CacheOutcome::Hit);
    assert_eq!(first, second);
}

#[test]
fn rejected_tokens_are_not_cached() {
    let key = TestKey::ec("k", "ES256");
    let v = validator(&key, true, 1);
    let cache = VerifiedTokenCache::new(100);
    let expired = token(&key, now() - 3600);
    assert!(cache.validate(&expired, now() as f64, &v).is_err());
    assert!(cache.is_empty());
}

#[test]
fn entries_expire_with_the_token() {
    let key = TestKey::ec("k", "ES256");
    let v = validator(&key, true, 1);
    let cache = VerifiedTokenCache::new(100);
    let exp = now() + 10;
    let t = token(&key, exp);
    cache.validate(&t, now() as f64, &v).unwrap();
    // Still valid within exp + 60 s skew, gone after it, and the full validation agrees.
    assert!(cache.get(&t, (exp + 59) as f64, &v).is_some());
    assert!(cache.get(&t, (exp + 60) as f64, &v).is_none());
    assert!(cache.validate(&t, (exp + 60) as f64, &v).is_err());
}

#[test]
fn a_changed_or_disabled_server_invalidates_its_entries() {
    let key = TestKey::ec("k", "ES256");
    let cache = VerifiedTokenCache::new(100);
    let t = token(&key, now() + 600);
    cache
        .validate(&t, now() as f64, &validator(&key, true, 1))
        .unwrap();
    assert!(
        cache
            .get(&t, now() as f64, &validator(&key, true, 1))
            .is_some()
    );
    assert!(
        cache
            .get(&t, now() as f64, &validator(&key, true, 2))
            .is_none(),
        "generation bump must invalidate"
    );
    cache
        .validate(&t, now() as f64, &validator(&key, true, 1))
        .unwrap();
    assert!(
        cache
            .get(&t, now() as f64, &validator(&key, false, 1))
            .is_none(),
        "disabling must invalidate"
    );
    // Keys rotated away: the new generation has another key, the token is now rejected outright.
    let rotated = validator(&TestKey::ec("k2", "ES256"), true, 3);
    assert!(cache.validate(&t, now() as f64, &rotated).is_err());
}

#[test]
fn capacity_is_bounded() {
    let key = TestKey::ed25519("k");
    let v = validator(&key, true, 1);
    let cache = VerifiedTokenCache::new(50);
    for i in 0..500 {
        let t = key.sign(&json!({"iss": "https://idp.example.com", "jti": i, "exp": now() + 600}));
        cache.validate(&t, now() as f64, &v).unwrap();
    }
    assert!(cache.len() <= 50, "len {}", cache.len());
}

#[test]
fn only_the_exact_token_hits() {
    let key = TestKey::ec("k", "ES256");
    let v = validator(&key, true, 1);
    let cache = VerifiedTokenCache::new(100);
    let t = token(&key, now() + 600);
    cache.validate(&t, now() as f64, &v).unwrap();
    let (header_and_payload, signature) = t.rsplit_once('.').unwrap();
    let (header, _) = header_and_payload.split_once('.').unwrap();
    // The cached token's signature on another payload, and the token with one byte changed
    // (the last character of the signature, and a trailing byte): never a hit, always
    // verified, and refused.
    let other_payload = token_of(&key, "admin", now() + 600);
    let other_payload = other_payload.split('.').nth(1).unwrap();
    let mut last = signature.as_bytes().to_vec();
    let end = last.len() - 1;
    last[end] = if last[end] == b'A' { b'B' } else { b'A' };
    for forged in [
        format!("{header}.{other_payload}.{signature}"),
        format!("{header_and_payload}.{}", String::from_utf8(last).unwrap()),
        format!("{t}A"),
    ] {
        assert!(cache.get(&forged, now() as f64, &v).is_none(), "{forged}");
        assert!(
            cache.validate(&forged, now() as f64, &v).is_err(),
            "{forged}"
        );
    }
    assert_eq!(cache.len(), 1);
    assert_eq!(
        cache.validate(&t, now() as f64, &v).unwrap().1,
        CacheOutcome::Hit
    );
}

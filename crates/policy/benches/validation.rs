//! Validation cost relative to the bare signature check, per algorithm, in one criterion run.
//!
//! For each of RS256 (RSA-2048), PS256 (RSA-2048), ES256 and EdDSA, on the same token:
//! - `raw_verify`: `aws-lc-rs` verification of the signature over the signing input with a
//!   `ParsedPublicKey` built once and the signature decoded once (the baseline);
//! - `full_validation`: `Validator::validate` with one realistic Okta-like server (issuer,
//!   audience and client id configured), keys parsed once at setup;
//! - `cache_hit`: `VerifiedTokenCache::validate` after one warm-up insert.
//!
//! `bench/validation-ratios.sh` turns criterion's estimates into the full/raw and
//! full/cache-hit ratios documented in `bench/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256,
};
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_jose::{Algorithm, JwkSet, base64url};
use portcullis_policy::cache::CacheOutcome;
use portcullis_policy::{Preset, ServerConfig, TrustedServer, Validator, VerifiedTokenCache};
use portcullis_testkit::TestKey;
use serde_json::{Value, json};

const ISSUER: &str = "https://acme.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9";
const AUDIENCE: &str = "api://orders";
const CLIENT_ID: &str = "0oa1b2c3d4e5f6g7h8i9";

/// An Okta custom-authorization-server access token's claim set (~400 bytes of JSON).
fn okta_claims(now: i64) -> Value {
    json!({
        "ver": 1,
        "jti": "AT.7dQm3xPj2Kq9Zr5VtBn8LwYc4HsGf6Ue1Ia0Oo_Np3",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "cid": CLIENT_ID,
        "uid": "00u1a2b3c4d5e6f7g8h9",
        "scp": ["openid", "profile", "email", "offline_access", "orders:read", "orders:write"],
        "auth_time": now - 120,
        "sub": "alice.example@acme-corp.example.com",
        "groups": ["Everyone", "orders-admins"],
        "tenant": "acme-prod"
    })
}

/// The realistic configuration: one Okta server with issuer, audience and client id set; the
/// allowlist holds the algorithm under test (the Okta preset alone allows only RS256).
fn validator_for(key: &TestKey, alg: Algorithm) -> Validator {
    let mut config = ServerConfig::new("okta-prod", Preset::Okta)
        .with_issuer(ISSUER)
        .with_audiences(&[AUDIENCE])
        .with_client_ids(&[CLIENT_ID]);
    config.allowed_algs = vec![alg];
    assert!(
        config.field_errors().is_empty(),
        "bench configuration must be valid"
    );
    let jwks = portcullis_testkit::jwks(&[key]);
    let keys = JwkSet::parse(jwks.to_string().as_bytes()).expect("JWKS parses");
    assert!(keys.ignored().is_empty(), "every bench key must be usable");
    Validator::new(vec![TrustedServer {
        id: "srv-okta-prod".to_owned(),
        enabled: true,
        config,
        keys: Arc::new(keys),
        generation: 1,
    }])
}

fn member(jwk: &Value, name: &str) -> Vec<u8> {
    let text = jwk[name]
        .as_str()
        .unwrap_or_else(|| panic!("JWK member {name}"));
    base64url::decode(text).expect("base64url JWK member")
}

/// The baseline key, built from the public JWK exactly as the brief prescribes.
fn raw_key(key: &TestKey, alg: Algorithm) -> ParsedPublicKey {
    let jwk = key.jwk();
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            let (n, e) = (member(&jwk, "n"), member(&jwk, "e"));
            let params = if alg == Algorithm::RS256 {
                &RSA_PKCS1_2048_8192_SHA256
            } else {
                &RSA_PSS_2048_8192_SHA256
            };
            PublicKeyComponents {
                n: &n[..],
                e: &e[..],
            }
            .to_parsed_public_key(params)
            .expect("RSA public key")
        }
        Algorithm::ES256 => {
            let mut point = vec![0x04];
            point.extend(member(&jwk, "x"));
            point.extend(member(&jwk, "y"));
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).expect("P-256 public key")
        }
        Algorithm::EdDSA => {
            ParsedPublicKey::new(&ED25519, member(&jwk, "x")).expect("Ed25519 public key")
        }
        other => panic!("not benchmarked: {other}"),
    }
}

fn bench_algorithm(c: &mut Criterion, name: &str, alg: Algorithm, key: &TestKey) {
    let now_s = portcullis_testkit::now();
    let claims = okta_claims(now_s);
    let now = now_s as f64;
    let token = key.sign(&claims);

    // Baseline material, prepared once.
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("compact JWS");
    let signature = base64url::decode(signature_b64).expect("signature decodes");
    let parsed = raw_key(key, alg);
    parsed
        .verify_sig(signing_input.as_bytes(), &signature)
        .expect("raw verification of the bench token");

    let validator = validator_for(key, alg);
    let verified = validator
        .validate(&token, now)
        .unwrap_or_else(|e| panic!("{name} bench token must validate: {e:?}"));
    assert_eq!(verified.alg, alg);
    assert_eq!(verified.client_id.as_deref(), Some(CLIENT_ID));
    assert_eq!(verified.scopes.len(), 6);

    let cache = VerifiedTokenCache::new(1024);
    let (_, first) = cache
        .validate(&token, now, &validator)
        .expect("warm-up insert");
    assert_eq!(first, CacheOutcome::Miss);
    let (_, second) = cache.validate(&token, now, &validator).expect("cache hit");
    assert_eq!(second, CacheOutcome::Hit);

    eprintln!(
        "{name}: token {} bytes, payload {} bytes, signature {} bytes",
        token.len(),
        claims.to_string().len(),
        signature.len()
    );

    let mut group = c.benchmark_group(name);
    group.bench_function("raw_verify", |b| {
        b.iter(|| {
            black_box(&parsed)
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap();
        });
    });
    group.bench_function("full_validation", |b| {
        b.iter(|| {
            black_box(&validator)
                .validate(black_box(&token), black_box(now))
                .unwrap()
        });
    });
    group.bench_function("cache_hit", |b| {
        b.iter(|| {
            let (hit, outcome) = black_box(&cache)
                .validate(black_box(&token), black_box(now), black_box(&validator))
                .unwrap();
            debug_assert_eq!(outcome, CacheOutcome::Hit);
            hit
        });
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let rs256 = TestKey::rsa("rsa-2048-rs", 2048, "RS256");
    let ps256 = TestKey::rsa("rsa-2048-ps", 2048, "PS256");
    let es256 = TestKey::ec("ec-p256", "ES256");
    let eddsa = TestKey::ed25519("ed25519");
    bench_algorithm(c, "RS256", Algorithm::RS256, &rs256);
    bench_algorithm(c, "PS256", Algorithm::PS256, &ps256);
    bench_algorithm(c, "ES256", Algorithm::ES256, &es256);
    bench_algorithm(c, "EdDSA", Algorithm::EdDSA, &eddsa);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(50);
    targets = validation
}
criterion_main!(benches);

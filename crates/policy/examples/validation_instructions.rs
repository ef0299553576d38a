//! Load-independent companion to `benches/validation.rs`: runs `Validator::validate` and the raw
//! aws-lc-rs verification of the same token a fixed number of times inside two `#[inline(never)]`
//! functions, so that an instruction counter can attribute the cost of each without timing noise.
//!
//! ```sh
//! cargo build --release -p portcullis-policy --example validation_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --toggle-collect='*measure_validate*' --toggle-collect='*measure_raw*' \
//!     --toggle-collect='*measure_cache_miss*' \
//!     target/release/examples/validation_instructions RS256 1000
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep measure_
//! ```
//!
//! Each `measure_*` line divided by the iteration count is the cost of one call in instructions;
//! `validate - raw` is Portcullis's fixed overhead. The token, the claims and the configuration
//! are the benchmark's (one Okta server with issuer, audience and client id configured).
//!
//! With a third argument `--time` (and optionally a batch size, default 50) it instead times
//! interleaved batches (full, raw, full, raw, ...) and prints medians: a wall-clock cross-check
//! in which load drift affects both sides alike, e.g. `validation_instructions RS256 400 --time`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256,
};
use portcullis_jose::{Algorithm, JwkSet, base64url};
use portcullis_policy::cache::VerifiedTokenCache;
use portcullis_policy::{Preset, ServerConfig, TrustedServer, Validator};
use portcullis_testkit::TestKey;
use serde_json::{Value, json};

const ISSUER: &str = "https://acme.okta.com/oauth2/aus1a2b3c4d5e6f7g8h9";
const AUDIENCE: &str = "api://orders";
const CLIENT_ID: &str = "0oa1b2c3d4e5f6g7h8i9";

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

fn member(jwk: &Value, name: &str) -> Vec<u8> {
    base64url::decode(jwk[name].as_str().unwrap()).unwrap()
}

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
            .unwrap()
        }
        Algorithm::ES256 => {
            let mut point = vec![0x04];
            point.extend(member(&jwk, "x"));
            point.extend(member(&jwk, "y"));
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).unwrap()
        }
        _ => ParsedPublicKey::new(&ED25519, member(&jwk, "x")).unwrap(),
    }
}

#[inline(never)]
fn measure_validate(validator: &Validator, token: &str, now: f64, n: usize) {
    for _ in 0..n {
        black_box(black_box(validator).validate(black_box(token), black_box(now))).unwrap();
    }
}

#[inline(never)]
fn measure_raw(key: &ParsedPublicKey, message: &[u8], signature: &[u8], n: usize) {
    for _ in 0..n {
        black_box(key)
            .verify_sig(black_box(message), black_box(signature))
            .unwrap();
    }
}

/// A verified-token cache miss: lookup, full validation, insert (the cache emptied before each).
#[inline(never)]
fn measure_cache_miss(
    cache: &VerifiedTokenCache,
    validator: &Validator,
    token: &str,
    now: f64,
    n: usize,
) {
    for _ in 0..n {
        cache.clear();
        black_box(cache.validate(black_box(token), black_box(now), validator)).unwrap();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let alg_name = args.next().unwrap_or_else(|| "RS256".to_owned());
    let n: usize = args.next().map_or(1000, |s| s.parse().unwrap());
    let alg: Algorithm = alg_name.parse().unwrap();
    let key = match alg {
        Algorithm::RS256 => TestKey::rsa("rsa-2048-rs", 2048, "RS256"),
        Algorithm::PS256 => TestKey::rsa("rsa-2048-ps", 2048, "PS256"),
        Algorithm::ES256 => TestKey::ec("ec-p256", "ES256"),
        Algorithm::EdDSA => TestKey::ed25519("ed25519"),
        other => panic!("not measured: {other}"),
    };
    let now_s = portcullis_testkit::now();
    let token = key.sign(&okta_claims(now_s));
    let now = now_s as f64;

    let mut config = ServerConfig::new("okta-prod", Preset::Okta)
        .with_issuer(ISSUER)
        .with_audiences(&[AUDIENCE])
        .with_client_ids(&[CLIENT_ID]);
    config.allowed_algs = vec![alg];
    let keys = JwkSet::parse(portcullis_testkit::jwks(&[&key]).to_string().as_bytes()).unwrap();
    let validator = Validator::new(vec![TrustedServer {
        id: "srv-okta-prod".to_owned(),
        enabled: true,
        config,
        keys: Arc::new(keys),
        generation: 1,
    }]);
    let verified = validator.validate(&token, now).unwrap();
    assert_eq!(verified.scopes.len(), 6);

    let (signing_input, signature_b64) = token.rsplit_once('.').unwrap();
    let signature = base64url::decode(signature_b64).unwrap();
    let parsed = raw_key(&key, alg);

    if args.next().as_deref() == Some("--time") {
        // Interleaved batches (full, raw, full, raw, ...): load changes hit both sides alike.
        // Prints the median of the per-batch ratios and the median per-call times.
        let batch: usize = args.next().map_or(50, |s| s.parse().unwrap());
        let (mut ratios, mut fulls, mut raws) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let start = std::time::Instant::now();
            measure_validate(&validator, &token, now, batch);
            let full = start.elapsed().as_nanos() as f64 / batch as f64;
            let start = std::time::Instant::now();
            measure_raw(&parsed, signing_input.as_bytes(), &signature, batch);
            let raw = start.elapsed().as_nanos() as f64 / batch as f64;
            ratios.push(full / raw);
            fulls.push(full);
            raws.push(raw);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (full, raw) = (median(&mut fulls), median(&mut raws));
        println!(
            "{alg_name}: full {full:.0} ns, raw {raw:.0} ns, full - raw {:.0} ns, median ratio {:.3} ({n} x {batch} interleaved)",
            full - raw,
            median(&mut ratios)
        );
        return;
    }
    measure_validate(&validator, &token, now, n);
    measure_raw(&parsed, signing_input.as_bytes(), &signature, n);
    measure_cache_miss(&VerifiedTokenCache::new(16), &validator, &token, now, n);
    eprintln!("{alg_name}: {n} iterations, token {} bytes", token.len());
}

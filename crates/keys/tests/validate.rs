//! The Validate report and the key loader against real HTTP servers on 127.0.0.1, with keys from
//! `portcullis_testkit`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_keys::{
    FetchPolicy, Fetcher, JwksError, KeySource, LoadError, load_keys, validate_source,
    validate_source_with_issuer,
};
use portcullis_testkit::{TestKey, jwks_of};
use serde_json::{Value, json};
use support::{Reply, TestServer};

fn fetcher() -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_insecure: true,
        ..FetchPolicy::default()
    })
    .unwrap()
}

struct Idp {
    server: TestServer,
}

/// An IdP serving `/keys` (the given JWKS) and OIDC metadata for issuer `{base}/realm`.
async fn idp(jwks: Value) -> Idp {
    let body = jwks.to_string();
    let server = TestServer::start(move |req, base| match req.target.as_str() {
        "/keys" => Reply::typed("application/jwk-set+json", body.clone())
            .header("Cache-Control", "max-age=600"),
        "/realm/.well-known/openid-configuration" => Reply::json(
            json!({"issuer": format!("{base}/realm"), "jwks_uri": format!("{base}/keys")})
                .to_string(),
        ),
        "/broken" => Reply::status(500),
        _ => Reply::status(404),
    })
    .await;
    Idp { server }
}

#[tokio::test]
async fn report_lists_usable_and_ignored_keys() {
    let signing = TestKey::rsa("sig-1", 2048, "RS256");
    let encryption = TestKey::ec("enc-1", "ES256");
    let idp = idp(jwks_of(vec![
        signing.jwk_with("alg", json!("RS256")),
        encryption.jwk_with("use", json!("enc")),
    ]))
    .await;
    let report = validate_source(&fetcher(), KeySource::Jwks(idp.server.url("/keys"))).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.error, None);
    assert_eq!(report.usable_keys.len(), 1);
    let key = &report.usable_keys[0];
    assert_eq!(key.kid.as_deref(), Some("sig-1"));
    assert_eq!(key.kty, "RSA");
    assert_eq!(key.alg, Some("RS256"));
    assert_eq!(key.params, "RSA 2048");
    assert_eq!(report.ignored_keys.len(), 1);
    let ignored = &report.ignored_keys[0];
    assert_eq!(ignored.index, 1);
    assert_eq!(ignored.kid.as_deref(), Some("enc-1"));
    assert_eq!(ignored.kty.as_deref(), Some("EC"));
    assert!(ignored.reason.contains("enc"), "{}", ignored.reason);
    assert_eq!(report.cache_max_age_s, Some(600));
    assert_eq!(report.discovered_issuer, None);
    assert!(report.jwks_fetch_ms.is_some());

    // The API shape: camelCase, the fields the portal shows.
    let value = serde_json::to_value(&report).unwrap();
    for field in [
        "ok",
        "jwksUri",
        "metadataUrl",
        "discoveredIssuer",
        "usableKeys",
        "ignoredKeys",
        "fetchedAt",
        "durationMs",
        "error",
    ] {
        assert!(value.get(field).is_some(), "missing {field}: {value}");
    }
    assert_eq!(value["usableKeys"][0]["params"], "RSA 2048");
    assert!(value["fetchedAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn report_through_metadata_shows_the_discovered_issuer() {
    let signing = TestKey::ec("ec-1", "ES256");
    let idp = idp(jwks_of(vec![signing.jwk()])).await;
    let metadata_url = idp.server.url("/realm/.well-known/openid-configuration");
    let report = validate_source(&fetcher(), KeySource::Metadata(metadata_url.clone())).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.metadata_url.as_deref(), Some(metadata_url.as_str()));
    assert_eq!(
        report.discovered_issuer.as_deref(),
        Some(idp.server.url("/realm").as_str())
    );
    assert!(!report.issuer_is_template);
    assert_eq!(report.jwks_uri, Some(idp.server.url("/keys")));
    assert_eq!(report.usable_keys[0].params, "EC P-256");
    assert_eq!(report.usable_keys[0].alg, Some("ES256"));
    assert!(report.metadata_fetch_ms.is_some());
    assert_eq!(
        idp.server.paths(),
        ["/realm/.well-known/openid-configuration", "/keys"]
    );

    // A configured issuer that differs from the document's: mix-up, JWKS not fetched.
    let report = validate_source_with_issuer(
        &fetcher(),
        KeySource::Metadata(metadata_url),
        Some("https://other.example.com/realm"),
    )
    .await;
    assert!(!report.ok);
    assert_eq!(report.error.as_ref().unwrap().code, "issuer_mismatch");
    assert_eq!(report.jwks_uri, None);
    assert_eq!(idp.server.paths().len(), 3);
}

#[tokio::test]
async fn a_jwks_without_usable_keys_is_a_failure() {
    let encryption = TestKey::ec("enc-1", "ES256");
    let idp = idp(jwks_of(vec![
        encryption.jwk_with("use", json!("enc")),
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
    ]))
    .await;
    let url = idp.server.url("/keys");
    let report = validate_source(&fetcher(), KeySource::Jwks(url.clone())).await;
    assert!(!report.ok);
    assert!(report.usable_keys.is_empty());
    assert_eq!(report.ignored_keys.len(), 2);
    let error = report.error.as_ref().unwrap();
    assert_eq!(error.code, "no_usable_key");
    assert!(
        error.message.contains("no usable signing key"),
        "{}",
        error.message
    );
    assert!(error.message.contains("enc-1"), "{}", error.message);

    // The key manager's loader fails the same way.
    match load_keys(&fetcher(), &KeySource::Jwks(url), None).await {
        Err(LoadError::Jwks(JwksError::NoUsableKey { ignored, .. })) => {
            assert_eq!(ignored.len(), 2)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn fetch_and_parse_failures_are_reported_with_codes() {
    let idp = idp(json!({"keys": []})).await;
    let f = fetcher();
    let cases = [
        (KeySource::Jwks(idp.server.url("/broken")), "http_status"),
        (KeySource::Jwks(idp.server.url("/keys")), "no_usable_key"),
        (
            KeySource::Metadata(idp.server.url("/realm/.well-known/openid-configuration")),
            "no_usable_key",
        ),
        (
            KeySource::Jwks("https://169.254.169.254/latest/meta-data/".into()),
            "forbidden_address",
        ),
    ];
    for (source, code) in cases {
        let report = validate_source(&f, source.clone()).await;
        assert!(!report.ok);
        assert_eq!(report.error.as_ref().unwrap().code, code, "{source:?}");
    }
}

#[tokio::test]
async fn load_keys_returns_the_set_and_discovery() {
    let signing = TestKey::ed25519("ed-1");
    let idp = idp(jwks_of(vec![signing.jwk()])).await;
    let loaded = load_keys(
        &fetcher(),
        &KeySource::Metadata(idp.server.url("/realm/.well-known/openid-configuration")),
        None,
    )
    .await
    .unwrap();
    assert!(loaded.jwks.set.by_kid("ed-1").is_some());
    assert_eq!(loaded.discovered.unwrap().jwks_uri, idp.server.url("/keys"));
    assert_eq!(
        loaded.jwks.fetched.cache.max_age,
        Some(std::time::Duration::from_secs(600))
    );
}

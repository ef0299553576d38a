//! Per-server TLS settings (`verify_tls`, `ca_bundle_pem`, DESIGN.md §1.1) against a real HTTPS
//! JWKS server on 127.0.0.1: a plain test responder behind `portcullis_testkit::tls::TlsFront`,
//! presenting a certificate issued by a CA the test makes (so no built-in root vouches for it,
//! exactly like an on-premises IdP with a private CA).
//!
//! Network rule of these tests: traffic only ever goes to 127.0.0.1; the one other address here
//! (10.0.0.1, a redirect target) must be refused before any connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, OnceLock};

use portcullis_keys::manager::{KeyManager, RefreshResult};
use portcullis_keys::{Accept, FetchError, FetchPolicy, Fetcher, MAX_TLS_VARIANTS, check_server};
use portcullis_policy::{ServerDefinition, ServerInput};
use portcullis_store::{Actor, Interface, Store};
use portcullis_testkit::tls::{TestCa, TlsFront};
use portcullis_testkit::{TestKey, jwks_of};
use serde_json::{Value, json};
use support::{Reply, TestServer};

/// The deployment of the other key tests: loopback reachable (`allow_insecure_jwks`).
fn loopback() -> FetchPolicy {
    FetchPolicy {
        allow_insecure: true,
        ..FetchPolicy::default()
    }
}

/// An IdP on HTTPS: `/keys` (a JWKS with one usable key), OIDC metadata for issuer
/// `https://127.0.0.1:PORT/realm` pointing at the HTTPS `/keys`, `/big` (over 400 bytes of JSON) and
/// `/to-private` (a redirect to 10.0.0.1).
struct HttpsIdp {
    ca: TestCa,
    backend: TestServer,
    front: TlsFront,
}

impl HttpsIdp {
    async fn start() -> HttpsIdp {
        let ca = TestCa::new("Portcullis test private CA");
        let jwks = jwks_of(vec![TestKey::ec("ec-1", "ES256").jwk()]).to_string();
        let public_base: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let base = Arc::clone(&public_base);
        let backend = TestServer::start(move |req, _| {
            let base = base.get().cloned().unwrap_or_default();
            match req.target.as_str() {
                "/keys" => Reply::typed("application/jwk-set+json", jwks.clone()),
                "/realm/.well-known/openid-configuration" => Reply::json(
                    json!({"issuer": format!("{base}/realm"), "jwks_uri": format!("{base}/keys")})
                        .to_string(),
                ),
                "/big" => Reply::json(format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(400))),
                "/to-private" => Reply::redirect("https://10.0.0.1/keys"),
                _ => Reply::status(404),
            }
        })
        .await;
        let front = TlsFront::start(&ca.server_identity(), backend.addr).await;
        public_base.set(front.url("")).unwrap();
        HttpsIdp { ca, backend, front }
    }
}

fn definition(body: Value) -> ServerDefinition {
    serde_json::from_value::<ServerInput>(body)
        .unwrap()
        .resolve()
}

async fn fetch(fetcher: &Fetcher, url: &str) -> Result<Vec<u8>, FetchError> {
    fetcher
        .get_json(url, Accept::JwkSet)
        .await
        .map(|fetched| fetched.body)
}

#[tokio::test]
async fn default_settings_refuse_a_certificate_from_a_private_ca() {
    let idp = HttpsIdp::start().await;
    let fetcher = Fetcher::new(loopback()).unwrap();
    for url in [idp.front.url("/keys"), idp.front.localhost_url("/keys")] {
        let err = fetch(&fetcher, &url).await.unwrap_err();
        assert_eq!(err.code(), "tls_certificate", "{url}: {err}");
        let message = err.to_string();
        assert!(
            message.contains("not accepted") && message.contains("caBundlePem"),
            "{message}"
        );
    }
    // Default settings are the default client: `for_tls(true, None)` changes nothing.
    let same = fetcher.for_tls(true, None).unwrap();
    assert_eq!(
        fetch(&same, &idp.front.url("/keys"))
            .await
            .unwrap_err()
            .code(),
        "tls_certificate"
    );
    assert!(idp.front.connections() >= 3, "the refusals were TLS ones");
    assert_eq!(idp.front.handshakes(), 0);
    assert!(idp.backend.requests().is_empty(), "nothing was sent");
    assert_eq!(fetcher.tls_variant_count(), 0);
}

#[tokio::test]
async fn the_servers_ca_bundle_makes_its_certificate_trusted() {
    let idp = HttpsIdp::start().await;
    let fetcher = Fetcher::new(loopback()).unwrap();
    let trusting = fetcher.for_tls(true, Some(&idp.ca.pem())).unwrap();
    for url in [idp.front.url("/keys"), idp.front.localhost_url("/keys")] {
        let body = fetch(&trusting, &url).await.unwrap();
        assert!(String::from_utf8(body).unwrap().contains("ec-1"), "{url}");
    }
    assert_eq!(idp.backend.paths(), ["/keys", "/keys"]);
    // The bundle adds roots; it does not make the base fetcher trust them.
    assert_eq!(
        fetch(&fetcher, &idp.front.url("/keys"))
            .await
            .unwrap_err()
            .code(),
        "tls_certificate"
    );

    // The bundle as an admin might paste it: openssl's subject line, CRLF line ends, and an
    // unrelated CA next to the right one.
    let other = TestCa::new("Some other CA");
    let pasted = format!(
        "subject=CN = Some other CA\r\n{}{}",
        other.pem().replace('\n', "\r\n"),
        idp.ca.pem()
    );
    let trusting = fetcher.for_tls(true, Some(&pasted)).unwrap();
    assert!(fetch(&trusting, &idp.front.url("/keys")).await.is_ok());
}

#[tokio::test]
async fn another_cas_bundle_does_not_help() {
    let idp = HttpsIdp::start().await;
    let fetcher = Fetcher::new(loopback()).unwrap();
    let other = TestCa::new("Some other CA");
    let wrong = fetcher.for_tls(true, Some(&other.pem())).unwrap();
    let err = fetch(&wrong, &idp.front.url("/keys")).await.unwrap_err();
    assert_eq!(err.code(), "tls_certificate", "{err}");
    assert_eq!(idp.front.handshakes(), 0);
    assert!(idp.backend.requests().is_empty());
}

#[tokio::test]
async fn verify_tls_false_accepts_the_certificate() {
    let idp = HttpsIdp::start().await;
    let fetcher = Fetcher::new(loopback()).unwrap();
    let unchecked = fetcher.for_tls(false, None).unwrap();
    let body = fetch(&unchecked, &idp.front.url("/keys")).await.unwrap();
    assert!(String::from_utf8(body).unwrap().contains("ec-1"));

    // Through a server definition, as the key manager and the API use it.
    let server = definition(json!({"name": "lab-idp", "jwksUri": idp.front.url("/keys"),
        "verifyTls": false}));
    let (report, loaded) = check_server(&fetcher, &server).await;
    assert!(report.ok, "{report:?}");
    assert!(loaded.is_some());
    assert_eq!(idp.front.handshakes(), 2);
}

#[tokio::test]
async fn check_server_applies_the_definitions_tls_settings_to_metadata_and_jwks() {
    let idp = HttpsIdp::start().await;
    let fetcher = Fetcher::new(loopback()).unwrap();
    let metadata_url = idp.front.url("/realm/.well-known/openid-configuration");

    let plain = definition(json!({"name": "onprem", "metadataUrl": metadata_url}));
    let (report, loaded) = check_server(&fetcher, &plain).await;
    assert!(!report.ok && loaded.is_none());
    assert_eq!(report.error.unwrap().code, "tls_certificate");

    let with_ca = definition(json!({"name": "onprem", "metadataUrl": metadata_url,
        "caBundlePem": idp.ca.pem()}));
    let (report, loaded) = check_server(&fetcher, &with_ca).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(
        report.discovered_issuer.as_deref(),
        Some(format!("{}/realm", idp.front.url("")).as_str())
    );
    assert_eq!(
        report.jwks_uri.as_deref(),
        Some(idp.front.url("/keys").as_str())
    );
    assert_eq!(loaded.unwrap().jwks.set.keys().len(), 1);
    assert_eq!(
        idp.backend.paths(),
        ["/realm/.well-known/openid-configuration", "/keys"]
    );

    // An unusable bundle fails the check before anything is fetched.
    let garbage = definition(json!({"name": "onprem", "metadataUrl": metadata_url,
        "caBundlePem": "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"}));
    let before = idp.front.connections();
    let (report, _) = check_server(&fetcher, &garbage).await;
    let error = report.error.unwrap();
    assert_eq!(error.code, "ca_bundle_invalid", "{}", error.message);
    assert_eq!(idp.front.connections(), before);
}

#[tokio::test]
async fn unusable_bundles_are_a_clear_error() {
    let fetcher = Fetcher::new(loopback()).unwrap();
    let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    for (bundle, says) in [
        ("garbage", "contains no certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n",
            "not a usable X.509 certificate",
        ),
        (
            "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
            "not valid PEM",
        ),
        (key, "private key"),
    ] {
        for verify in [true, false] {
            let err = fetcher.for_tls(verify, Some(bundle)).unwrap_err();
            assert_eq!(err.code(), "ca_bundle_invalid", "{bundle}");
            let message = err.to_string();
            assert!(
                message.contains("caBundlePem") && message.contains(says),
                "{bundle}: {message}"
            );
        }
    }
    // A blank bundle is no bundle.
    assert!(fetcher.for_tls(true, Some("  \n")).is_ok());
    assert_eq!(fetcher.tls_variant_count(), 0);
}

#[tokio::test]
async fn variant_fetchers_keep_every_ssrf_rule() {
    let idp = HttpsIdp::start().await;
    // A deployment that does not open loopback: every variant must still refuse 127.0.0.1,
    // whether written literally or reached through DNS, before connecting.
    let strict = Fetcher::new(FetchPolicy::default()).unwrap();
    let variants = [
        strict.for_tls(false, None).unwrap(),
        strict.for_tls(true, Some(&idp.ca.pem())).unwrap(),
        strict.for_tls(false, Some(&idp.ca.pem())).unwrap(),
    ];
    for variant in &variants {
        for url in [idp.front.url("/keys"), idp.front.localhost_url("/keys")] {
            let err = fetch(variant, &url).await.unwrap_err();
            assert_eq!(err.code(), "forbidden_address", "{url}: {err}");
        }
        assert_eq!(variant.policy(), &FetchPolicy::default());
    }
    assert_eq!(idp.front.connections(), 0, "refused before connecting");

    // Redirects are re-checked, and the body limit holds, on a variant client too.
    let small = Fetcher::new(FetchPolicy {
        max_body_bytes: 300,
        ..loopback()
    })
    .unwrap();
    for variant in [
        small.for_tls(false, None).unwrap(),
        small.for_tls(true, Some(&idp.ca.pem())).unwrap(),
    ] {
        let err = fetch(&variant, &idp.front.url("/to-private"))
            .await
            .unwrap_err();
        match &err {
            FetchError::RedirectRefused { reason, .. } => {
                assert_eq!(reason.code(), "forbidden_address", "{err}")
            }
            other => panic!("{other:?}"),
        }
        let err = fetch(&variant, &idp.front.url("/big")).await.unwrap_err();
        assert_eq!(err.code(), "body_too_large", "{err}");
        assert!(fetch(&variant, &idp.front.url("/keys")).await.is_ok());
    }
}

#[tokio::test]
async fn variant_clients_are_cached_and_bounded() {
    let fetcher = Fetcher::new(loopback()).unwrap();
    let ca = TestCa::new("Cached CA");
    let pem = ca.pem();
    fetcher.for_tls(true, Some(&pem)).unwrap();
    fetcher.for_tls(true, Some(&pem)).unwrap();
    // Variants derived from a variant share the same cache.
    let unchecked = fetcher.for_tls(false, None).unwrap();
    unchecked.for_tls(true, Some(&pem)).unwrap();
    unchecked.for_tls(false, None).unwrap();
    assert_eq!(fetcher.tls_variant_count(), 2);
    for n in 0..MAX_TLS_VARIANTS + 8 {
        let other = TestCa::new(&format!("CA {n}"));
        fetcher.for_tls(true, Some(&other.pem())).unwrap();
    }
    assert!(fetcher.tls_variant_count() <= MAX_TLS_VARIANTS);
}

#[tokio::test]
async fn the_key_manager_fetches_with_each_servers_tls_settings() {
    let idp = HttpsIdp::start().await;
    let dir = std::env::temp_dir().join(format!(
        "portcullis-keys-tls-{}-{}",
        std::process::id(),
        idp.front.addr.port()
    ));
    let store = Store::open(&format!("sqlite://{}/store.db", dir.display()))
        .await
        .unwrap();
    let org = store.ensure_org(None).await.unwrap().id;
    let actor = Actor::system("test", Interface::System);
    let (manager, _changes) = KeyManager::new(
        store.clone(),
        org,
        Arc::new(Fetcher::new(loopback()).unwrap()),
    );

    let trusted = definition(json!({"name": "onprem", "jwksUri": idp.front.url("/keys"),
        "caBundlePem": idp.ca.pem()}));
    let untrusted = definition(json!({"name": "onprem-no-ca", "jwksUri": idp.front.url("/keys")}));
    let unchecked = definition(json!({"name": "lab", "jwksUri": idp.front.url("/keys"),
        "verifyTls": false}));
    let mut ids = Vec::new();
    for server in [&trusted, &untrusted, &unchecked] {
        let record = store
            .create_server(org, server, None, &actor)
            .await
            .unwrap();
        ids.push(record.id);
    }

    // The unknown-kid refetch goes through the server's own fetcher: with the CA bundle it
    // brings the keys in, without it nothing changes.
    assert!(manager.refetch_for_unknown_kid(&ids[0], &trusted).await);
    assert!(!manager.refetch_for_unknown_kid(&ids[1], &untrusted).await);
    let now = portcullis_store::now_ms();
    assert!(manager.keys_for(&ids[0], &trusted, now).is_some());
    assert!(manager.keys_for(&ids[1], &untrusted, now).is_none());

    // So does the scheduled refresh.
    assert_eq!(
        manager.refresh(&ids[0], &trusted).await,
        RefreshResult::Unchanged
    );
    match manager.refresh(&ids[1], &untrusted).await {
        RefreshResult::Failed(message) => {
            assert!(message.contains("TLS certificate"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        manager.refresh(&ids[2], &unchecked).await,
        RefreshResult::Updated
    );
    let failed = store.get_server(org, &ids[1]).await.unwrap();
    assert!(
        failed
            .status
            .last_fetch_error
            .unwrap()
            .contains("caBundlePem")
    );
    let fetched = store.get_server(org, &ids[0]).await.unwrap();
    assert_eq!(fetched.status.key_ids, ["ec-1"]);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

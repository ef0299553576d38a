//! Per-server TLS settings through the API: an IdP on HTTPS at 127.0.0.1 whose certificate comes
//! from a CA the test makes (`portcullis_testkit::tls`), so only the server's `caBundlePem` (or
//! `verifyTls: false`) lets Validate, create and refresh reach it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;

use portcullis_testkit::tls::{TestCa, TlsFront};
use portcullis_testkit::{TestKey, jwks_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{IdpServer, TestServer};

const VALIDATE: &str = "/api/v1/authorizationServers/validate";
const SERVERS: &str = "/api/v1/authorizationServers";

struct HttpsIdp {
    ca: TestCa,
    front: TlsFront,
    _idp: IdpServer,
}

async fn https_idp() -> HttpsIdp {
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks_of(vec![key.jwk()]).to_string());
    let backend: SocketAddr = idp.base.trim_start_matches("http://").parse().unwrap();
    let ca = TestCa::new("Portcullis test on-premises CA");
    let front = TlsFront::start(&ca.server_identity(), backend).await;
    HttpsIdp {
        ca,
        front,
        _idp: idp,
    }
}

fn error_code(report: &Value) -> &str {
    report["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn validate_honours_the_ca_bundle_being_edited() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let idp = https_idp().await;
    let jwks_uri = idp.front.url("/keys");

    let (status, report) = admin.post(VALIDATE, json!({"jwksUri": jwks_uri})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(error_code(&report), "tls_certificate", "{report}");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("caBundlePem")
    );

    let (status, report) = admin
        .post(
            VALIDATE,
            json!({"jwksUri": jwks_uri, "caBundlePem": idp.ca.pem()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["usableKeys"][0]["kid"], "k1");

    // Another CA's certificate does not vouch for this IdP.
    let other = TestCa::new("Some other CA");
    let (_, report) = admin
        .post(
            VALIDATE,
            json!({"jwksUri": jwks_uri, "caBundlePem": other.pem()}),
        )
        .await;
    assert_eq!(error_code(&report), "tls_certificate", "{report}");

    // "JWKS Server Certificate Validation" off: the certificate is not checked.
    let (_, report) = admin
        .post(VALIDATE, json!({"jwksUri": jwks_uri, "verifyTls": false}))
        .await;
    assert_eq!(report["ok"], true, "{report}");

    // A bundle that is not certificates is a field error, before any fetch.
    let before = idp.front.connections();
    for garbage in [
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n",
    ] {
        let (status, answer) = admin
            .post(
                VALIDATE,
                json!({"jwksUri": jwks_uri, "caBundlePem": garbage}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer["fields"].get("caBundlePem").is_some(), "{answer}");
    }
    assert_eq!(idp.front.connections(), before);
    server.stop().await;
}

#[tokio::test]
async fn create_and_refresh_use_the_saved_ca_bundle() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let idp = https_idp().await;
    let body = |name: &str| {
        json!({"name": name, "jwksUri": idp.front.url("/keys"),
               "issuer": "https://idp.corp.example", "audiences": ["api://portcullis"]})
    };

    let (status, refused) = admin.post(SERVERS, body("onprem")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["fields"]["jwksUri"]
            .to_string()
            .contains("TLS certificate"),
        "{refused}"
    );

    let mut with_ca = body("onprem");
    with_ca["caBundlePem"] = json!(idp.ca.pem());
    let (status, created) = admin.post(SERVERS, with_ca).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"]["keyIds"], json!(["k1"]));
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, refreshed) = admin
        .post(&format!("{SERVERS}/{id}/refresh"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["report"]["ok"], true, "{refreshed}");
    assert_eq!(refreshed["server"]["status"]["lastFetchError"], Value::Null);
    server.stop().await;
}

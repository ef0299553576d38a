//! The store goes away under a running server (DESIGN.md §4, issue 4 "store unavailable"): the
//! hot path keeps deciding from memory — cached and uncached tokens, allow and deny — `/readyz`
//! says degraded, admin writes fail with 503 and a clear message, nothing configured is
//! forgotten, and everything works again once the database is back.
//!
//! The outage is real: the test's PostgreSQL database stops accepting connections and its open
//! connections are terminated (SQLite, a file, has no such outage to simulate honestly).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use portcullis_store::testing::set_postgres_database_reachable;
use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{IdpServer, TestServer, postgres_store};

const ISSUER: &str = "https://login.example.com";

fn token(key: &TestKey, scope: &str, jti: &str) -> String {
    key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci",
                     "scope": scope, "jti": jti, "iat": now(), "exp": now() + 300}),
    )
}

async fn authz(server: &TestServer, token: Option<&str>) -> StatusCode {
    let mut request = reqwest::Client::new()
        .get(format!("{}/authz", server.base))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.unwrap().status()
}

async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn the_hot_path_keeps_deciding_while_the_store_is_down() {
    let Some((store, database, admin_url)) = postgres_store().await else {
        portcullis_testkit::skip::whole(
            "store-outage fault test (needs PostgreSQL: set PORTCULLIS_TEST_DATABASE_URL)",
        );
        return;
    };
    let server = TestServer::start_with(store, tempfile::tempdir().unwrap()).await;
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("rsa-1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["orders-api"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "orders", "match": {"pathPrefix": "/orders"},
                   "policy": {"scopes": {"allOf": ["orders:read"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cached = token(&key, "orders:read", "cached");
    assert_eq!(authz(&server, Some(&cached)).await, StatusCode::OK);

    set_postgres_database_reachable(&admin_url, &database, false)
        .await
        .unwrap();

    // Decisions from memory: a cached token, a token never seen (full verification), a token
    // without the scope, no token at all.
    assert_eq!(authz(&server, Some(&cached)).await, StatusCode::OK);
    let fresh = token(&key, "orders:read", "fresh");
    assert_eq!(authz(&server, Some(&fresh)).await, StatusCode::OK);
    let unscoped = token(&key, "billing:read", "unscoped");
    assert_eq!(authz(&server, Some(&unscoped)).await, StatusCode::FORBIDDEN);
    assert_eq!(authz(&server, None).await, StatusCode::UNAUTHORIZED);

    // Still ready (it decides from memory), and says it is degraded.
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["store"], "unreachable");

    let (status, body) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "billing", "match": {"pathPrefix": "/billing"}}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "store_unavailable");
    assert!(body["message"].as_str().unwrap().contains("unavailable"));

    // The configuration refresh (version check / rebuild) fails while the database is away and
    // keeps the configuration.
    let before = metric(&server, "portcullis_snapshot_rebuild_failures_total").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server, "portcullis_snapshot_rebuild_failures_total").await <= before {
        assert!(
            Instant::now() < deadline,
            "no snapshot rebuild was attempted during the outage"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let after_rebuild = token(&key, "orders:read", "after-rebuild");
    assert_eq!(authz(&server, Some(&after_rebuild)).await, StatusCode::OK);

    set_postgres_database_reachable(&admin_url, &database, true)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready: Value = reqwest::get(format!("{}/readyz", server.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["status"] == "ready" {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (status, body) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "billing", "match": {"pathPrefix": "/billing"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(authz(&server, Some(&fresh)).await, StatusCode::OK);
}

/// Issue 12: the unknown-`kid` refetch runs no store query inside the request. With the store
/// down, a rotated key is still picked up (the refetch updates memory, the snapshot is updated
/// from memory; the recording in the store is left to the background), the retired key's
/// tokens are refused, and the answer does not wait on the store.
#[tokio::test]
async fn a_rotated_key_is_picked_up_while_the_store_is_down() {
    let Some((store, database, admin_url)) = postgres_store().await else {
        portcullis_testkit::skip::whole(
            "unknown-kid fault test (needs PostgreSQL: set PORTCULLIS_TEST_DATABASE_URL)",
        );
        return;
    };
    let server = TestServer::start_with(store, tempfile::tempdir().unwrap()).await;
    let idp = IdpServer::start().await;
    let old = TestKey::rsa("rsa-old", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&old]).to_string());
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["orders-api"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "orders", "match": {"pathPrefix": "/orders"},
                   "policy": {"scopes": {"allOf": ["orders:read"]}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let retired = token(&old, "orders:read", "old");
    assert_eq!(authz(&server, Some(&retired)).await, StatusCode::OK);

    set_postgres_database_reachable(&admin_url, &database, false)
        .await
        .unwrap();
    let new = TestKey::rsa("rsa-new", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&new]).to_string());
    let started = Instant::now();
    let fresh = token(&new, "orders:read", "new");
    assert_eq!(
        authz(&server, Some(&fresh)).await,
        StatusCode::OK,
        "the new key is adopted from memory while the store is down"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the request waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        authz(&server, Some(&retired)).await,
        StatusCode::UNAUTHORIZED,
        "the retired key's cached token is dropped with the old generation"
    );

    set_postgres_database_reachable(&admin_url, &database, true)
        .await
        .unwrap();
}

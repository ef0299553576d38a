//! OAuth 2.0 bearer tokens on the cloud service API: tokens from a registered authorization
//! server (a real JWKS server on 127.0.0.1) map to API roles through
//! `<cloud>::<orgId>::<role>` scopes; RFC 6750 answers; key rotation through the unknown-`kid`
//! refetch; configuration changes take effect on the next request; keys survive a restart while
//! the IdP is down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{IdpServer, TestServer};

const ISSUER: &str = "https://acme.okta.com/oauth2/default";
const ORG: i64 = 272_378;

fn role_scope(role: &str) -> String {
    format!("portcullis.local::{ORG}::{role}")
}

fn claims(scopes: &[String]) -> Value {
    json!({"iss": ISSUER, "aud": "api://portcullis", "cid": "terraform", "sub": "terraform",
           "scp": scopes, "iat": now(), "exp": now() + 600})
}

/// A server registered for `idp`, an `automation` role with full access to servers and a
/// `reader` role with view-only access.
async fn setup(server: &TestServer, idp: &IdpServer) -> Value {
    let admin = server.admin().await;
    let (status, created) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "okta-prod", "preset": "okta", "jwksUri": idp.url("/keys"), "issuer": ISSUER,
                   "audiences": ["api://portcullis"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let full = json!({"authorizationServers": "full", "auditLogs": "view_only"});
    assert_eq!(
        admin
            .post(
                "/api/v1/apiRoles",
                json!({"name": "automation", "permissions": full})
            )
            .await
            .0,
        StatusCode::CREATED
    );
    let view = json!({"authorizationServers": "view_only"});
    assert_eq!(
        admin
            .post(
                "/api/v1/apiRoles",
                json!({"name": "reader", "permissions": view})
            )
            .await
            .0,
        StatusCode::CREATED
    );
    created
}

#[tokio::test]
async fn a_token_naming_an_api_role_calls_the_api() {
    let server = TestServer::start("sqlite").await;
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    setup(&server, &idp).await;
    let client = server.client();

    let token = key.sign(&claims(&[role_scope("automation")]));
    let (status, _, list) = client
        .bearer(Method::GET, "/api/v1/authorizationServers", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["name"], "okta-prod");

    // Writes need no CSRF token with a bearer token, and the audit names the OAuth actor.
    let body = json!({"name": "second", "jwksUri": idp.url("/keys"), "issuer": "https://other.example.com", "clientIds": ["x"]});
    let (status, _, created) = client
        .bearer(
            Method::POST,
            "/api/v1/authorizationServers",
            &token,
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, _, audit) = client
        .bearer(
            Method::GET,
            "/api/v1/auditLogs?resource=second",
            &token,
            None,
        )
        .await;
    assert_eq!(
        audit["items"][0]["actor"],
        format!("oauth-automation$@{ORG}.portcullis.local")
    );

    // View-only role: reads pass, writes are 403 insufficient_scope with a challenge.
    let reader = key.sign(&claims(&[role_scope("reader")]));
    assert_eq!(
        client
            .bearer(Method::GET, "/api/v1/authorizationServers", &reader, None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, headers, body) = client
        .bearer(
            Method::DELETE,
            "/api/v1/authorizationServers/x",
            &reader,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    // Categories the roles do not mention are closed.
    assert_eq!(
        client
            .bearer(Method::GET, "/api/v1/admins", &token, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn rfc6750_answers() {
    let server = TestServer::start("sqlite").await;
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    setup(&server, &idp).await;
    let client = server.client();
    let path = "/api/v1/authorizationServers";

    // Valid token, but no scope names a role of this cloud and org.
    let foreign = key.sign(&claims(&[
        "portcullis.local::999::automation".into(),
        "orders:read".into(),
    ]));
    let (status, headers, body) = client.bearer(Method::GET, path, &foreign, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_scope")),
        "{body}"
    );
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&format!("scope=\"portcullis.local::{ORG}::<role>\"")),
        "{challenge}"
    );

    // Invalid tokens: 401 invalid_token, with a short description that leaks nothing.
    let mut expired = claims(&[role_scope("automation")]);
    expired["exp"] = json!(now() - 3600);
    let other_key = TestKey::rsa("k1", 2048, "RS256");
    for (token, description) in [
        (key.sign(&expired), "The access token expired"),
        (
            other_key.sign(&claims(&[role_scope("automation")])),
            "The token signature could not be verified",
        ),
        ("not-a-jwt".to_owned(), "The access token is malformed"),
    ] {
        let (status, headers, body) = client.bearer(Method::GET, path, &token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(challenge.contains(description), "{challenge}");
        assert!(
            !challenge.contains(ISSUER) && !challenge.contains("k1"),
            "{challenge}"
        );
    }

    // Malformed Authorization header: 400 invalid_request.
    let raw = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert!(
        raw.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
    // Token in two places.
    let token = key.sign(&claims(&[role_scope("automation")]));
    let raw = reqwest::Client::new()
        .get(format!("{}{path}?access_token={token}", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);

    // Every rejection is counted by reason.
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("portcullis_rejections_total{reason=\"expired\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_rejections_total{reason=\"no_api_role\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn key_rotation_is_picked_up_by_the_unknown_kid_refetch() {
    let server = TestServer::start("sqlite").await;
    let idp = IdpServer::start().await;
    let old = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&old]).to_string());
    setup(&server, &idp).await;
    let client = server.client();
    let path = "/api/v1/authorizationServers";

    // The IdP rotates: publishes k2 and retires k1.
    let new = TestKey::rsa("k2", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&new]).to_string());
    let fresh = new.sign(&claims(&[role_scope("automation")]));
    let (status, _, body) = client.bearer(Method::GET, path, &fresh, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token signed by the new key is accepted after one refetch: {body}"
    );
    // The retired key's tokens are rejected now that the set was refreshed.
    let retired = old.sign(&claims(&[role_scope("automation")]));
    assert_eq!(
        client.bearer(Method::GET, path, &retired, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A flood of unknown kids costs no more fetches: the refetch is rate limited.
    let stranger = TestKey::rsa("k3", 2048, "RS256");
    for _ in 0..5 {
        let token = stranger.sign(&claims(&[role_scope("automation")]));
        assert_eq!(
            client.bearer(Method::GET, path, &token, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("portcullis_rejections_total{reason=\"kid_unknown\"} 6"),
        "{metrics}"
    );
}

#[tokio::test]
async fn disabling_a_server_takes_effect_on_the_next_request() {
    let server = TestServer::start("sqlite").await;
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let created = setup(&server, &idp).await;
    let client = server.client();
    let token = key.sign(&claims(&[role_scope("automation")]));
    let path = "/api/v1/authorizationServers";
    assert_eq!(
        client.bearer(Method::GET, path, &token, None).await.0,
        StatusCode::OK,
        "warm the cache"
    );

    let admin = server.admin().await;
    let id = created["id"].as_str().unwrap();
    let body = json!({"name": "okta-prod", "preset": "okta", "jwksUri": idp.url("/keys"), "issuer": ISSUER,
                      "audiences": ["api://portcullis"], "enabled": false});
    assert_eq!(
        admin.put(&format!("{path}/{id}"), body).await.0,
        StatusCode::OK
    );
    let (status, _, _) = client.bearer(Method::GET, path, &token, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the cached verification must not outlive the server's enablement"
    );

    // Deleting the role closes the door too, even for a token already verified once.
    let body = json!({"name": "okta-prod", "preset": "okta", "jwksUri": idp.url("/keys"), "issuer": ISSUER,
                      "audiences": ["api://portcullis"], "enabled": true});
    assert_eq!(
        admin.put(&format!("{path}/{id}"), body).await.0,
        StatusCode::OK
    );
    assert_eq!(
        client.bearer(Method::GET, path, &token, None).await.0,
        StatusCode::OK
    );
    let roles = admin.get("/api/v1/apiRoles").await.1;
    let automation = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "automation")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        admin
            .delete(&format!(
                "/api/v1/apiRoles/{}",
                automation.as_str().unwrap()
            ))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client.bearer(Method::GET, path, &token, None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn persisted_keys_validate_after_a_restart_while_the_idp_is_down() {
    let server = TestServer::start("sqlite").await;
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    setup(&server, &idp).await;
    let dir = server.stop().await;

    idp.serve("/keys", 503, "{}");
    let store =
        portcullis_store::Store::open(&format!("sqlite://{}/portcullis.db", dir.path().display()))
            .await
            .unwrap();
    let restarted = TestServer::start_with(store, dir).await;
    let token = key.sign(&claims(&[role_scope("automation")]));
    let (status, _, body) = restarted
        .client()
        .bearer(Method::GET, "/api/v1/authorizationServers", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

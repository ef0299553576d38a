//! RFC 9728 protected resource metadata: the cloud service API's document at
//! `/.well-known/oauth-protected-resource`, one per route with an upstream at the path-suffixed
//! form, both following configuration changes, and the `resource_metadata` parameter in the
//! challenges that point at them (RFC 9728 §5.1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_testkit::{TestKey, jwks};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{IdpServer, TestServer};

const ISSUER: &str = "https://login.example.com";
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

async fn document(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{}{WELL_KNOWN}{path}", server.base))
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn documents_follow_the_configuration_and_challenges_point_at_them() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let idp = IdpServer::start().await;
    let key = TestKey::ec("ec-1", "ES256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["orders-api"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let server_id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "entra", "jwksUri": idp.url("/keys"), "preset": "entra_v2",
                   "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "audiences": ["api://x"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/api/v1/apiRoles",
            json!({"name": "automation", "permissions": {"routes": "full"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for route in [
        json!({"name": "orders", "match": {"pathPrefix": "/orders"}, "upstream": "http://127.0.0.1:9",
               "policy": {"servers": ["idp"], "scopes": {"allOf": ["orders:read"], "anyOf": ["orders:admin", "orders:write"]}}}),
        json!({"name": "docs", "match": {"pathPrefix": "/docs"}, "policy": {"credentials": ["none"]}}),
    ] {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, status_body) = admin.get("/api/v1/status").await;
    let org = status_body["orgId"].as_i64().unwrap();

    // The cloud service API: every enabled server's issuer (templates left out), the API-role
    // scopes, header bearer tokens only.
    let (status, api) = document(&server, "").await;
    assert_eq!(status, StatusCode::OK, "{api}");
    assert_eq!(api["resource"], server.base.trim_end_matches('/'));
    assert_eq!(api["authorization_servers"], json!([ISSUER]));
    assert_eq!(
        api["scopes_supported"],
        json!([format!("portcullis.local::{org}::automation")])
    );
    assert_eq!(api["bearer_methods_supported"], json!(["header"]));
    assert!(
        api["resource_name"]
            .as_str()
            .unwrap()
            .contains("cloud service API")
    );

    // A route with an upstream: its own resource, servers and scopes.
    let (status, orders) = document(&server, "/orders").await;
    assert_eq!(status, StatusCode::OK, "{orders}");
    assert_eq!(
        orders["resource"],
        format!("{}/orders", server.base.trim_end_matches('/'))
    );
    assert_eq!(orders["authorization_servers"], json!([ISSUER]));
    assert_eq!(
        orders["scopes_supported"],
        json!(["orders:admin", "orders:read", "orders:write"])
    );
    assert_eq!(orders["resource_name"], "orders");
    // A forward-auth-only route and an unknown path have no document here.
    assert_eq!(document(&server, "/docs").await.0, StatusCode::NOT_FOUND);
    assert_eq!(document(&server, "/nowhere").await.0, StatusCode::NOT_FOUND);

    // The challenges point at the document of what was asked for.
    let api_challenge = reqwest::get(format!("{}/api/v1/authorizationServers", server.base))
        .await
        .unwrap();
    assert_eq!(api_challenge.status(), StatusCode::UNAUTHORIZED);
    assert!(
        api_challenge.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(&format!(
                "resource_metadata=\"{}{WELL_KNOWN}\"",
                server.base
            )),
        "{:?}",
        api_challenge.headers()["www-authenticate"]
    );
    let route_challenge = reqwest::get(format!("{}/orders/1", server.base))
        .await
        .unwrap();
    assert_eq!(route_challenge.status(), StatusCode::UNAUTHORIZED);
    assert!(
        route_challenge.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(&format!(
                "resource_metadata=\"{}{WELL_KNOWN}/orders\"",
                server.base
            )),
        "{:?}",
        route_challenge.headers()["www-authenticate"]
    );

    // Configuration changes show at once: disabling the server empties the lists.
    let (_, current) = admin
        .get(&format!("/api/v1/authorizationServers/{server_id}"))
        .await;
    let mut changed = current.clone();
    changed["enabled"] = json!(false);
    let (status, body) = admin
        .put(
            &format!("/api/v1/authorizationServers/{server_id}"),
            changed,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        document(&server, "").await.1["authorization_servers"],
        json!([])
    );
    assert_eq!(
        document(&server, "/orders").await.1["authorization_servers"],
        json!([])
    );
}

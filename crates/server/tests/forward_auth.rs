//! Forward auth (`/authz`) with each proxy's header convention, routes managed through the API,
//! RFC 6750 answers and identity headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{IdpServer, TestServer};

const ISSUER: &str = "https://login.example.com";

async fn setup() -> (TestServer, IdpServer, TestKey) {
    let server = TestServer::start("sqlite").await;
    let idp = IdpServer::start().await;
    let key = TestKey::ec("ec-1", "ES256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["orders-api"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let routes = [
        json!({"name": "orders", "match": {"pathPrefix": "/orders", "methods": ["GET", "POST"]},
               "policy": {"scopes": {"allOf": ["orders:read"]},
                          "claims": [{"path": "tenant", "op": "equals", "value": "acme"}],
                          "forwardClaims": {"X-Auth-Subject": "sub", "X-Auth-Client-Id": "$client_id", "X-Auth-Scopes": "$scopes", "X-Tenant": "tenant"}}}),
        json!({"name": "orders-write", "match": {"pathPrefix": "/orders", "methods": ["DELETE"]},
               "policy": {"scopes": {"allOf": ["orders:write"]}}}),
        json!({"name": "health", "match": {"exactPath": "/health"}, "policy": {"credentials": ["none"]}}),
    ];
    for route in routes {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    (server, idp, key)
}

fn token(key: &TestKey, scope: &str) -> String {
    key.sign(&json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci", "scope": scope,
                     "tenant": "acme", "iat": now(), "exp": now() + 300}))
}

async fn ask(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_proxy_convention_gets_the_same_decision() {
    let (server, _idp, key) = setup().await;
    let good = format!("Bearer {}", token(&key, "orders:read"));
    let conventions: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "nginx",
            vec![
                ("x-original-method", "GET"),
                ("x-original-uri", "/orders/42?x=1"),
            ],
        ),
        (
            "traefik/caddy",
            vec![
                ("x-forwarded-method", "GET"),
                ("x-forwarded-host", "api.example.com"),
                ("x-forwarded-uri", "/orders/42"),
            ],
        ),
    ];
    for (name, mut headers) in conventions {
        headers.push(("authorization", good.as_str()));
        let response = ask(&server, "/authz", &headers).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(response.headers()["x-auth-subject"], "svc-ci", "{name}");
        assert_eq!(response.headers()["x-auth-client-id"], "ci");
        assert_eq!(response.headers()["x-auth-scopes"], "orders:read");
        assert_eq!(response.headers()["x-tenant"], "acme");
    }
    // Envoy ext_authz with a path prefix: the original path follows /authz.
    let response = ask(
        &server,
        "/authz/orders/42",
        &[("authorization", good.as_str())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn denials_follow_rfc6750() {
    let (server, _idp, key) = setup().await;
    let nginx = |uri: &'static str, method: &'static str| {
        vec![("x-original-method", method), ("x-original-uri", uri)]
    };

    // No credentials: 401 with a bare challenge.
    let response = ask(&server, "/authz", &nginx("/orders/1", "GET")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"portcullis\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            server.base
        )
        .as_str()
    );

    // Valid token without the scope: 403 naming the scope.
    let weak = format!("Bearer {}", token(&key, "profile"));
    let mut headers = nginx("/orders/1", "GET");
    headers.push(("authorization", weak.as_str()));
    let response = ask(&server, "/authz", &headers).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"")
            && challenge.contains("scope=\"orders:read\""),
        "{challenge}"
    );

    // A different method picks a different route.
    let reader = format!("Bearer {}", token(&key, "orders:read"));
    let mut headers = nginx("/orders/1", "DELETE");
    headers.push(("authorization", reader.as_str()));
    assert_eq!(
        ask(&server, "/authz", &headers).await.status(),
        StatusCode::FORBIDDEN
    );

    // Claim rule failure.
    let other_tenant = key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "x", "scope": "orders:read",
                                        "tenant": "globex", "iat": now(), "exp": now() + 300}),
    );
    let other_tenant = format!("Bearer {other_tenant}");
    let mut headers = nginx("/orders/1", "GET");
    headers.push(("authorization", other_tenant.as_str()));
    assert_eq!(
        ask(&server, "/authz", &headers).await.status(),
        StatusCode::FORBIDDEN
    );

    // Invalid token: 401 invalid_token.
    let mut headers = nginx("/orders/1", "GET");
    headers.push(("authorization", "Bearer eyJhbGciOiJub25lIn0.e30."));
    let response = ask(&server, "/authz", &headers).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    // No route: deny. Public route: allow without credentials.
    assert_eq!(
        ask(&server, "/authz", &nginx("/admin", "GET"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ask(&server, "/authz", &nginx("/health", "GET"))
            .await
            .status(),
        StatusCode::OK
    );

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("portcullis_decisions_total{result=\"deny\",reason=\"no_route\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_rejections_total{reason=\"alg_none\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn routes_api_validates_and_changes_apply_at_once() {
    let (server, _idp, key) = setup().await;
    let admin = server.admin().await;
    let (status, bad) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "x", "match": {"pathPrefix": "nope"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["fields"]["match"].is_string(), "{bad}");
    let (_, list) = admin.get("/api/v1/routes").await;
    let orders: &Value = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "orders")
        .unwrap();
    let id = orders["id"].as_str().unwrap();

    let reader = format!("Bearer {}", token(&key, "orders:read"));
    let headers = [
        ("x-original-method", "GET"),
        ("x-original-uri", "/orders/1"),
        ("authorization", reader.as_str()),
    ];
    assert_eq!(
        ask(&server, "/authz", &headers).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        admin.delete(&format!("/api/v1/routes/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ask(&server, "/authz", &headers).await.status(),
        StatusCode::FORBIDDEN,
        "deleted route: no match, deny"
    );
    let (_, audit) = admin.get("/api/v1/auditLogs?category=routes").await;
    assert_eq!(audit["items"][0]["action"], "delete");
}

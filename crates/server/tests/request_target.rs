//! The request path decides on exactly what the upstream serves (issue 10), through the real
//! reverse proxy and the real `/authz` endpoint over raw TCP (no client library in between to
//! normalise anything):
//! - every path-confusion variant sent without a valid token either never reaches the upstream
//!   or reaches it as something no lenient reader resolves under the protected prefix;
//! - header families at `/authz` cannot be spoofed by the client;
//! - Portcullis's cookies and method-override headers never reach an upstream, and an upstream
//!   cannot set Portcullis's cookies;
//! - host matching (case, port, trailing dot, IPv6 literal, two `Host` headers, an untrusted
//!   `X-Forwarded-Host`), two `Authorization` headers, an invalid token on a public route, and
//!   client-sent identity headers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use serde_json::json;
use support::bypass::{PROTECTED, VARIANTS, leniently_under, raw_exchange, raw_request};
use support::{EchoUpstream, IdpServer, TestServer};

const ISSUER: &str = "https://login.example.com";

struct Setup {
    server: TestServer,
    _idp: IdpServer,
    key: TestKey,
    upstream: EchoUpstream,
    addr: String,
}

/// A public route `docs` and a protected route `orders` on one upstream, plus a host-bound route.
async fn setup(configure: impl FnOnce(&mut portcullis_server::Settings)) -> Setup {
    let server = TestServer::start_sqlite_configured(configure).await;
    let idp = IdpServer::start().await;
    let key = TestKey::ec("ec-1", "ES256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let upstream = EchoUpstream::start().await;
    let upstream_url = format!("http://127.0.0.1:{}", upstream.port);
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["orders-api"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let routes = [
        json!({"name": "docs", "match": {"pathPrefix": "/docs"}, "upstream": upstream_url,
               "policy": {"credentials": ["none"]}}),
        json!({"name": "orders", "match": {"pathPrefix": "/orders"}, "upstream": upstream_url,
               "policy": {"scopes": {"allOf": ["orders:read"]}}}),
        json!({"name": "tenant", "match": {"host": "api.example.com", "pathPrefix": "/tenant"},
               "upstream": upstream_url, "policy": {"credentials": ["none"]}}),
        json!({"name": "v6", "match": {"host": "[::1]", "pathPrefix": "/v6"},
               "upstream": upstream_url, "policy": {"credentials": ["none"]}}),
    ];
    for route in routes {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let addr = server
        .base
        .strip_prefix("http://")
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    Setup {
        server,
        _idp: idp,
        key,
        upstream,
        addr,
    }
}

fn token(key: &TestKey, scope: &str) -> String {
    key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci",
                     "scope": scope, "iat": now(), "exp": now() + 300}),
    )
}

/// Every variant, without a token, through the reverse proxy: nothing the upstream receives
/// resolves under `/orders`, however leniently it is read; and the plain protected path is a 401.
#[tokio::test]
async fn no_path_variant_reaches_a_protected_prefix_through_the_reverse_proxy() {
    let s = setup(|_| {}).await;
    let mut outcomes = Vec::new();
    for variant in VARIANTS {
        let before = s.upstream.targets().len();
        let status = raw_request(&s.addr, "GET", variant, "127.0.0.1", &[]).await;
        let received: Vec<String> = s.upstream.targets()[before..].to_vec();
        outcomes.push(format!("{status} {variant} -> {received:?}"));
        for target in &received {
            assert!(
                !leniently_under(target, PROTECTED),
                "{variant} reached the upstream as {target} (status {status})"
            );
        }
        // What reached the upstream is exactly the canonical target that was matched.
        if status == 200 {
            assert_eq!(received.len(), 1, "{variant}");
            // hyper drops a fragment from the request line before any handler sees it, so the
            // decision and the upstream both see the target without it.
            let wire = variant.split('#').next().unwrap();
            let canonical = portcullis_policy::target::canonicalize_target(wire.as_bytes())
                .unwrap()
                .path_and_query();
            assert_eq!(received[0], canonical, "{variant}");
        }
    }
    // The variants that are refused as ambiguous get 400 and the one error code.
    for variant in [
        "/docs/../orders/1",
        "/docs/%2e%2e/orders/1",
        "/docs/..;/orders/1",
        "//orders/1",
    ] {
        let (status, body) = raw_exchange(&s.addr, "GET", variant, "127.0.0.1", &[]).await;
        assert_eq!(status, 400, "{variant}");
        assert!(
            body.contains("\"code\":\"invalid_request_target\""),
            "{variant}: {body}"
        );
    }
    // The protected route itself wants a token; with one it is served.
    assert_eq!(
        raw_request(&s.addr, "GET", "/orders/1", "127.0.0.1", &[]).await,
        401
    );
    let bearer = format!("Bearer {}", token(&s.key, "orders:read"));
    assert_eq!(
        raw_request(
            &s.addr,
            "GET",
            "/orders/1?a=../b&c=%2f",
            "127.0.0.1",
            &[("Authorization", &bearer)]
        )
        .await,
        200
    );
    assert_eq!(
        s.upstream.targets().last().unwrap(),
        "/orders/1?a=../b&c=%2f",
        "the query is forwarded byte for byte"
    );
    // Unreserved escapes are decoded once, and the upstream gets that one spelling.
    assert_eq!(
        raw_request(&s.addr, "GET", "/%64ocs/%7Euser", "127.0.0.1", &[]).await,
        200
    );
    assert_eq!(s.upstream.targets().last().unwrap(), "/docs/~user");
    assert!(
        outcomes.iter().any(|o| o.starts_with("200 ")),
        "no variant was served at all: the test would prove nothing\n{}",
        outcomes.join("\n")
    );
    let metrics = s.server.metrics().await;
    assert!(metrics.contains("invalid_request_target"), "{metrics}");
}

/// The same variants at `/authz` as nginx asks (`X-Original-URI` = the raw `$request_uri`): none
/// is allowed when its lenient reading is under `/orders`; and a parse failure is never a 200.
#[tokio::test]
async fn authz_never_allows_a_variant_that_resolves_under_a_protected_prefix() {
    let s = setup(|_| {}).await;
    for variant in VARIANTS {
        let status = raw_request(
            &s.addr,
            "GET",
            "/authz",
            "127.0.0.1",
            &[("X-Original-Method", "GET"), ("X-Original-URI", variant)],
        )
        .await;
        if leniently_under(variant, PROTECTED) {
            assert_ne!(status, 200, "{variant} allowed at /authz");
        }
        if portcullis_policy::target::canonicalize_target(variant.as_bytes()).is_err() {
            assert_eq!(status, 400, "{variant}: a refused target is a 400");
        }
    }
}

/// Header-family spoofing: a client adds a second family describing a public request.
#[tokio::test]
async fn header_families_cannot_be_spoofed_by_the_client() {
    let s = setup(|_| {}).await;
    let ask = |headers: Vec<(&'static str, &'static str)>| {
        let addr = s.addr.clone();
        async move { raw_request(&addr, "GET", "/authz", "127.0.0.1", &headers).await }
    };
    // nginx's family says /orders/1; the client's X-Forwarded-* says /docs: refused.
    assert_eq!(
        ask(vec![
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/orders/1"),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/docs/x"),
        ])
        .await,
        400
    );
    // Traefik/Caddy's family says /orders/1; the client's X-Original-* says /docs: refused.
    assert_eq!(
        ask(vec![
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Uri", "/orders/1"),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/docs/x"),
        ])
        .await,
        400
    );
    // The path after /authz (Envoy) disagreeing with a header family: refused.
    assert_eq!(
        raw_request(
            &s.addr,
            "GET",
            "/authz/docs/x",
            "127.0.0.1",
            &[
                ("X-Original-Method", "GET"),
                ("X-Original-URI", "/orders/1")
            ]
        )
        .await,
        400
    );
    // One family alone counts.
    assert_eq!(
        ask(vec![
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/docs/x")
        ])
        .await,
        200
    );
    assert_eq!(
        ask(vec![
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/orders/1")
        ])
        .await,
        401
    );
    // Repeated, underscored and method-override headers are refused.
    assert_eq!(
        ask(vec![
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/docs/x"),
            ("X-Original-URI", "/orders/1"),
        ])
        .await,
        400
    );
    assert_eq!(
        ask(vec![
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/docs/x"),
            ("X_Forwarded_Uri", "/orders/1"),
        ])
        .await,
        400
    );
    assert_eq!(
        ask(vec![
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/docs/x"),
            ("X-HTTP-Method-Override", "DELETE"),
        ])
        .await,
        400
    );
    assert_eq!(ask(vec![]).await, 400, "nothing describes the request");
}

/// `PORTCULLIS_FORWARD_AUTH=nginx` reads only X-Original-*; `forwarded` only X-Forwarded-*, and
/// only from trusted proxies.
#[tokio::test]
async fn named_families_read_only_their_own_headers() {
    let nginx = setup(|s| s.forward_auth = portcullis_server::trust::ForwardAuthMode::Nginx).await;
    let spoof = [
        ("X-Original-Method", "GET"),
        ("X-Original-URI", "/orders/1"),
        ("X-Forwarded-Method", "GET"),
        ("X-Forwarded-Uri", "/docs/x"),
    ];
    assert_eq!(
        raw_request(&nginx.addr, "GET", "/authz", "127.0.0.1", &spoof).await,
        401,
        "nginx mode decides on X-Original-URI and ignores the client's X-Forwarded-Uri"
    );
    let untrusted = setup(|s| {
        s.forward_auth = portcullis_server::trust::ForwardAuthMode::Forwarded;
        s.trusted_proxies =
            portcullis_server::trust::TrustedProxies::new(vec!["192.0.2.0/24".parse().unwrap()]);
    })
    .await;
    assert_eq!(
        raw_request(
            &untrusted.addr,
            "GET",
            "/authz",
            "127.0.0.1",
            &[
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Uri", "/docs/x")
            ]
        )
        .await,
        400,
        "X-Forwarded-* from a peer outside PORTCULLIS_TRUSTED_PROXIES is not believed"
    );
    let trusted =
        setup(|s| s.forward_auth = portcullis_server::trust::ForwardAuthMode::Forwarded).await;
    assert_eq!(
        raw_request(
            &trusted.addr,
            "GET",
            "/authz",
            "127.0.0.1",
            &[
                ("X-Forwarded-Method", "GET"),
                ("X-Forwarded-Uri", "/docs/x")
            ]
        )
        .await,
        200
    );
}

/// Host matching in decisions, at `/authz` and through the reverse proxy.
#[tokio::test]
async fn host_matching() {
    let s = setup(|_| {}).await;
    let authz = |host: &'static str, extra: Vec<(&'static str, &'static str)>| {
        let addr = s.addr.clone();
        async move {
            let mut headers = vec![
                ("X-Original-Method", "GET"),
                ("X-Original-URI", "/tenant/1"),
            ];
            headers.extend(extra);
            raw_request(&addr, "GET", "/authz", host, &headers).await
        }
    };
    for host in [
        "api.example.com",
        "API.Example.COM",
        "api.example.com:8443",
        "api.example.com.",
    ] {
        assert_eq!(authz(host, vec![]).await, 200, "{host}");
    }
    for host in [
        "other.example.com",
        "api.example.com.evil",
        "api.example.co",
    ] {
        assert_eq!(authz(host, vec![]).await, 403, "{host}: no route");
    }
    assert_eq!(authz("api.example.com:99999", vec![]).await, 400);
    assert_eq!(
        authz(
            "other.example.com",
            vec![("X-Original-Host", "api.example.com")]
        )
        .await,
        200,
        "the nginx family's host counts"
    );
    // An untrusted peer's X-Forwarded-Host is ignored.
    let untrusted = setup(|s| {
        s.trusted_proxies = portcullis_server::trust::TrustedProxies::new(Vec::new());
    })
    .await;
    assert_eq!(
        raw_request(
            &untrusted.addr,
            "GET",
            "/authz",
            "other.example.com",
            &[
                ("X-Original-Method", "GET"),
                ("X-Original-URI", "/tenant/1"),
                ("X-Forwarded-Host", "api.example.com"),
            ],
        )
        .await,
        403
    );
    // Through the reverse proxy: the Host header, two Host headers, an IPv6 literal.
    assert_eq!(
        raw_request(&s.addr, "GET", "/tenant/1", "API.example.com.", &[]).await,
        200
    );
    assert_eq!(
        raw_request(&s.addr, "GET", "/tenant/1", "other.example", &[]).await,
        404
    );
    assert_eq!(
        raw_request(
            &s.addr,
            "GET",
            "/tenant/1",
            "api.example.com",
            &[("Host", "other.example")]
        )
        .await,
        400,
        "two Host headers"
    );
    assert_eq!(
        raw_request(&s.addr, "GET", "/v6/x", "[::1]:8080", &[]).await,
        200
    );
    assert_eq!(
        raw_request(&s.addr, "GET", "/v6/x", "[::2]", &[]).await,
        404
    );
    assert_eq!(
        raw_request(
            &s.addr,
            "GET",
            "http://api.example.com/tenant/1",
            "other.example",
            &[]
        )
        .await,
        400,
        "an absolute-form target whose host is not the Host"
    );
}

/// Tokens: two Authorization headers, an invalid token on a public route, and client-sent
/// identity headers on an allowed request.
#[tokio::test]
async fn tokens_and_identity_headers() {
    let s = setup(|_| {}).await;
    let good = format!("Bearer {}", token(&s.key, "orders:read"));
    let other = format!("Bearer {}", token(&s.key, "orders:read"));
    assert_eq!(
        raw_request(
            &s.addr,
            "GET",
            "/orders/1",
            "127.0.0.1",
            &[("Authorization", &good), ("Authorization", &other)]
        )
        .await,
        400,
        "two Authorization headers"
    );
    let forged = format!(
        "Bearer {}",
        TestKey::ec("ec-1", "ES256")
            .sign(&json!({"iss": ISSUER, "aud": "orders-api", "sub": "x", "exp": now() + 300}))
    );
    let before = s.upstream.hits();
    assert_eq!(
        raw_request(
            &s.addr,
            "GET",
            "/docs/x",
            "127.0.0.1",
            &[("Authorization", &forged)]
        )
        .await,
        401,
        "an invalid token on a public route is rejected, never downgraded to anonymous"
    );
    assert_eq!(s.upstream.hits(), before);
    let status = raw_request(
        &s.addr,
        "GET",
        "/authz",
        "127.0.0.1",
        &[
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/docs/x"),
            ("Authorization", "Bearer not-a-jwt"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    // Forged identity headers: the verified values replace them (proxy), and /authz answers
    // every identity header, empty when unknown, so proxies that copy them overwrite the client's.
    let response = reqwest::Client::new()
        .get(format!("{}/authz", s.server.base))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/docs/x")
        .header("x-auth-subject", "root")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-auth-subject"], "");
    assert_eq!(response.headers()["x-auth-scopes"], "");
    let response = reqwest::Client::new()
        .get(format!("{}/orders/1", s.server.base))
        .header("authorization", &good)
        .header("x-auth-subject", "root")
        .header("x-auth-client-id", "root")
        .send()
        .await
        .unwrap();
    let seen = response.text().await.unwrap();
    assert!(seen.contains("x-auth-subject: svc-ci"), "{seen}");
    assert!(!seen.contains("root"), "{seen}");
}

/// Portcullis's cookies and method overrides never reach an upstream; an upstream cannot set them.
#[tokio::test]
async fn own_cookies_and_method_overrides_never_reach_the_upstream() {
    let s = setup(|_| {}).await;
    let cookies = "app=1; portcullis_session=SECRET1; JSESSIONID=SECRET2; portcullis_csrf=SECRET3; __Host-portcullis_session=SECRET4; theme=dark";
    let response = reqwest::Client::new()
        .get(format!("{}/docs/page", s.server.base))
        .header("cookie", cookies)
        .header("x-http-method-override", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let seen = response.text().await.unwrap();
    assert!(
        !seen.contains("SECRET"),
        "a Portcullis cookie reached the upstream:\n{seen}"
    );
    assert!(
        seen.contains("app=1") && seen.contains("theme=dark"),
        "{seen}"
    );
    assert!(!seen.contains("x-http-method-override"), "{seen}");
    // An override naming another method is refused before any upstream is asked.
    let before = s.upstream.hits();
    let response = reqwest::Client::new()
        .post(format!("{}/docs/page", s.server.base))
        .header("x-http-method-override", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.upstream.hits(), before);
}

/// An upstream's Set-Cookie for a Portcullis cookie name is dropped; the application's pass.
#[tokio::test]
async fn an_upstream_cannot_set_portcullis_cookies() {
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(|| async {
        let mut response = "ok".into_response();
        let headers = response.headers_mut();
        for cookie in [
            "portcullis_session=planted; Path=/",
            "JSESSIONID=planted",
            "portcullis_csrf=planted",
            "app=fine; Path=/",
        ] {
            headers.append("set-cookie", cookie.parse().unwrap());
        }
        response
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let server = TestServer::start_sqlite_configured(|_| {}).await;
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "setter", "match": {"pathPrefix": "/set"}, "upstream": upstream,
                   "policy": {"credentials": ["none"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let response = reqwest::get(format!("{}/set/x", server.base))
        .await
        .unwrap();
    let set: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(set, ["app=fine; Path=/"]);
}

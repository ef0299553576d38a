//! The reverse proxy against a real upstream on 127.0.0.1: the same decision as forward auth,
//! streamed bodies both ways, hop-by-hop and spoofed identity headers removed, verified identity
//! added, redirects passed through, 502 when the upstream is down and 504 when it is too slow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::StreamExt;
use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{IdpServer, TestServer, unreachable_url};

const ISSUER: &str = "https://login.example.com";

async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    let mut response = axum::Json(json!({
        "method": parts.method.as_str(),
        "pathAndQuery": parts.uri.path_and_query().map(|pq| pq.as_str()),
        "headers": headers,
        "bodyLength": body.len(),
        "bodyDigest": portcullis_jose::base64url::encode(&portcullis_jose::sha256(&body)),
    }))
    .into_response();
    let headers = response.headers_mut();
    headers.insert("x-upstream", "echo".parse().unwrap());
    // Hop-by-hop headers the proxy must not pass back.
    headers.insert("keep-alive", "timeout=5".parse().unwrap());
    headers.insert("connection", "x-private-hop".parse().unwrap());
    headers.insert("x-private-hop", "1".parse().unwrap());
    response
}

/// Three chunks 300 ms apart: a proxy that buffers delivers the first only after the last.
async fn slow_chunks() -> Response {
    let chunks = futures_util::stream::unfold(0u8, |n| async move {
        if n == 3 {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("chunk{n};"))),
            n + 1,
        ))
    });
    Response::new(Body::from_stream(chunks))
}

/// The upstream: `/echo/...` describes what it received; `/slow` answers after 3 s;
/// `/stream` streams; `/moved` redirects to an address no proxy should follow to. Counts every
/// request it receives (a denied request must never reach it).
async fn start_upstream() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new()
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route("/stream", get(slow_chunks))
        .route(
            "/moved",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "http://169.254.169.254/latest/meta-data")],
                )
            }),
        );
    let app = app.layer(axum::middleware::from_fn(
        move |request: Request, next: axum::middleware::Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(request)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

struct Setup {
    server: TestServer,
    _idp: IdpServer,
    key: TestKey,
    upstream: String,
    upstream_hits: Arc<AtomicUsize>,
}

async fn setup(configure: impl FnOnce(&mut portcullis_server::Settings)) -> Setup {
    let server = TestServer::start_sqlite_configured(configure).await;
    let idp = IdpServer::start().await;
    let key = TestKey::ec("ec-1", "ES256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let (upstream, upstream_hits) = start_upstream().await;
    let admin = server.admin().await;
    let (status, body) = admin
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["orders-api"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let routes = [
        json!({"name": "orders", "match": {"pathPrefix": "/echo"}, "upstream": upstream,
               "policy": {"scopes": {"allOf": ["orders:read"]}}}),
        json!({"name": "public", "match": {"pathPrefix": "/stream"}, "upstream": upstream,
               "policy": {"credentials": ["none"]}}),
        json!({"name": "slow", "match": {"exactPath": "/slow"}, "upstream": upstream,
               "policy": {"credentials": ["none"]}}),
        json!({"name": "moved", "match": {"exactPath": "/moved"}, "upstream": upstream,
               "policy": {"credentials": ["none"]}}),
        json!({"name": "keeps-auth", "match": {"pathPrefix": "/echo/keep"}, "upstream": upstream,
               "policy": {"scopes": {"allOf": ["orders:read"]}, "keepAuthorization": true}}),
        json!({"name": "forward-only", "match": {"pathPrefix": "/checked"},
               "policy": {"credentials": ["none"]}}),
    ];
    for route in routes {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    Setup {
        server,
        _idp: idp,
        key,
        upstream,
        upstream_hits,
    }
}

fn token(key: &TestKey, scope: &str) -> String {
    key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci",
                     "scope": scope, "iat": now(), "exp": now() + 300}),
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn allowed_requests_reach_the_upstream_with_verified_identity_only() {
    let s = setup(|_| {}).await;
    let body = vec![7u8; 3 * 1024 * 1024 + 17];
    let response = client()
        .post(format!("{}/echo/orders/42?page=2&q=a%20b", s.server.base))
        .header(
            "authorization",
            format!("Bearer {}", token(&s.key, "orders:read")),
        )
        .header("x-auth-subject", "admin-spoofed")
        .header("X-Auth-Scopes", "everything")
        .header("connection", "x-drop-me")
        .header("x-drop-me", "hop")
        .header("x-request-marker", "kept")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-upstream"], "echo");
    for hop in ["keep-alive", "x-private-hop"] {
        assert!(
            !response.headers().contains_key(hop),
            "hop-by-hop {hop} passed back"
        );
    }
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["pathAndQuery"], "/echo/orders/42?page=2&q=a%20b");
    assert_eq!(seen["bodyLength"], body.len());
    assert_eq!(
        seen["bodyDigest"],
        portcullis_jose::base64url::encode(&portcullis_jose::sha256(&body))
    );
    let headers = &seen["headers"];
    assert_eq!(headers["x-auth-subject"], "svc-ci", "{headers}");
    assert_eq!(headers["x-auth-client-id"], "ci");
    assert_eq!(headers["x-auth-issuer"], ISSUER);
    assert_eq!(headers["x-auth-scopes"], "orders:read");
    assert_eq!(headers["x-request-marker"], "kept");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert!(headers["x-forwarded-host"].as_str().is_some());
    assert!(
        headers.get("authorization").is_none(),
        "token leaked upstream"
    );
    assert!(
        headers.get("x-drop-me").is_none(),
        "Connection-named header forwarded"
    );
    assert!(
        headers["host"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{headers}"
    );

    // A route that keeps Authorization passes it.
    let bearer = format!("Bearer {}", token(&s.key, "orders:read"));
    let seen: Value = client()
        .get(format!("{}/echo/keep/x", s.server.base))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["headers"]["authorization"], bearer.as_str());
}

#[tokio::test]
async fn denied_requests_never_reach_the_upstream() {
    let s = setup(|_| {}).await;
    let url = format!("{}/echo/orders", s.server.base);
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    // The pointer names the route's own RFC 9728 document.
    assert_eq!(
        none.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"portcullis\", resource_metadata=\"{}/.well-known/oauth-protected-resource/echo\"",
            s.server.base
        )
        .as_str()
    );
    let wrong_scope = client()
        .get(&url)
        .header(
            "authorization",
            format!("Bearer {}", token(&s.key, "billing:read")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_scope.status(), StatusCode::FORBIDDEN);
    assert!(
        wrong_scope.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let forged = client()
        .get(&url)
        .header(
            "authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token");
    // Neither a route without an upstream nor an unknown path is proxied.
    for path in ["/checked/x", "/nowhere"] {
        let response = client()
            .get(format!("{}{path}", s.server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Portcullis's own endpoints are never shadowed by the proxy.
    let status = client()
        .get(format!("{}/healthz", s.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(
        s.upstream_hits.load(Ordering::SeqCst),
        0,
        "a denied request reached the upstream"
    );
    let metrics = s.server.metrics().await;
    assert!(
        !metrics.contains("portcullis_proxy_requests_total{outcome=\"ok\"}"),
        "a denied request was counted as proxied:\n{metrics}"
    );
    // The counter itself works: an allowed request is one hit.
    let allowed = client()
        .get(&url)
        .header(
            "authorization",
            format!("Bearer {}", token(&s.key, "orders:read")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(s.upstream_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn responses_stream_and_redirects_pass_through() {
    let s = setup(|_| {}).await;
    let started = Instant::now();
    let response = client()
        .get(format!("{}/stream", s.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut chunks = response.bytes_stream();
    let first = chunks.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert_eq!(&first[..], b"chunk0;");
    let mut rest = Vec::new();
    while let Some(chunk) = chunks.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let all_at = started.elapsed();
    assert_eq!(rest, b"chunk1;chunk2;");
    // The first chunk arrived before the upstream produced the last one (600 ms later): the
    // proxy did not buffer the body. Ordering, not a timing budget.
    assert!(
        first_at + Duration::from_millis(300) < all_at,
        "first chunk at {first_at:?}, all at {all_at:?}"
    );

    let moved = client()
        .get(format!("{}/moved", s.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::FOUND);
    assert_eq!(
        moved.headers()["location"],
        "http://169.254.169.254/latest/meta-data"
    );
}

#[tokio::test]
async fn upstream_failures_are_502_and_504() {
    let s = setup(|settings| {
        settings.upstream_response_timeout = Duration::from_millis(500);
    })
    .await;
    let slow = client()
        .get(format!("{}/slow", s.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: Value = slow.json().await.unwrap();
    assert_eq!(body["code"], "upstream_timeout");

    // Point a route at a port nothing listens on.
    let down = unreachable_url("").await;
    let (status, body) = s
        .server
        .admin()
        .await
        .post(
            "/api/v1/routes",
            json!({"name": "down", "match": {"pathPrefix": "/down"}, "upstream": down,
                   "policy": {"credentials": ["none"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refused = client()
        .get(format!("{}/down/x", s.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "bad_gateway");
    assert!(!s.upstream.is_empty());

    let metrics = s.server.metrics().await;
    assert!(
        metrics.contains("portcullis_proxy_requests_total{outcome=\"timeout\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_proxy_requests_total{outcome=\"unreachable\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_upstream_duration_seconds_count 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_request_duration_seconds_count{endpoint=\"api\"}"),
        "{metrics}"
    );
}

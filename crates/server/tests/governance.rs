//! API governance (issue 14): the org settings resource, read-only mode (one node and two nodes
//! sharing PostgreSQL, decisions still served), and the rate limits by weight (the boundaries
//! on both stores, `Retry-After` to the second, the long window shared by two nodes, the
//! portal's interactive profile).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Client, IdpServer, TestServer};

const ISSUER: &str = "https://login.example.com";
const ORG: i64 = 272_378;

/// A request through `client`'s session (cookie and CSRF header), with the answer's headers.
async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = client
        .raw()
        .request(method, format!("{}{path}", client.base()))
        .header("x-csrf-token", client.csrf());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

fn window(limit: u32, seconds: u32) -> Value {
    json!({"limit": limit, "windowSeconds": seconds})
}

/// Rate limits where every weight of both profiles has these windows (exceptions as default).
fn uniform_limits(short: Value, long: Value) -> Value {
    let weight = json!({"short": short, "long": long});
    let profile = json!({"heavy": weight, "medium": weight, "light": weight});
    json!({"enabled": true, "api": profile, "interactive": profile, "exceptions": []})
}

async fn put_settings(admin: &Client, settings: Value) -> Value {
    let (status, body) = admin.put("/api/v1/orgSettings", settings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A server with an IdP, a route that needs a token, and a bearer token with full API access.
async fn with_route_and_token(admin: &Client) -> (IdpServer, String) {
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
    let route = json!({"name": "orders", "match": {"pathPrefix": "/orders"},
                       "policy": {"scopes": {"allOf": ["orders:read"]}}});
    assert_eq!(
        admin.post("/api/v1/routes", route).await.0,
        StatusCode::CREATED
    );
    let full = json!({"authorizationServers": "full", "apiRoles": "full", "routes": "full"});
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
    let token = key.sign(&json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci",
        "client_id": "ci", "scope": format!("orders:read portcullis.local::{ORG}::automation"),
        "iat": now(), "exp": now() + 600}));
    (idp, token)
}

async fn authz(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/authz"))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn org_settings_are_versioned_audited_and_changed_by_a_super_admin_only() {
    for backend in support::backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (status, current) = admin.get("/api/v1/orgSettings").await;
        assert_eq!(status, StatusCode::OK, "{current}");
        assert_eq!(current["activation"], "immediate");
        assert_eq!(current["readOnly"], false);
        assert_eq!(current["rateLimits"]["enabled"], true);
        assert_eq!(
            current["rateLimits"]["api"]["heavy"],
            json!({"short": window(1, 60), "long": window(4, 3600)})
        );
        let version = current["version"].as_i64().unwrap();

        // What GET answered can be sent back; a stale version is a conflict.
        let mut changed = current.clone();
        changed["rateLimits"]["enabled"] = json!(false);
        let saved = put_settings(&admin, changed.clone()).await;
        assert_eq!(saved["version"].as_i64().unwrap(), version + 1);
        assert_eq!(saved["rateLimits"]["enabled"], false);
        let (status, body) = admin.put("/api/v1/orgSettings", changed).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "version_conflict");

        // Bad values are named.
        let (status, body) = admin
            .put(
                "/api/v1/orgSettings",
                json!({"rateLimits": uniform_limits(window(0, 1), window(1, 90_000))}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        for field in [
            "rateLimits.api.heavy.short.limit",
            "rateLimits.interactive.light.long.windowSeconds",
        ] {
            assert!(body["fields"][field].is_string(), "{field}: {body}");
        }

        // Only a Super Admin changes them.
        let reader = json!({"name": "reader", "permissions": {"authorizationServers": "full", "apiRoles": "full", "routes": "full", "apiCredentials": "full", "auditLogs": "full", "admins": "view_only"}});
        let (_, role) = admin.post("/api/v1/adminRoles", reader).await;
        let (status, body) = admin
            .post(
                "/api/v1/admins",
                json!({"login": "ops", "name": "Ops", "password": support::ADMIN_PASSWORD, "roleId": role["id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let ops = server.client();
        assert_eq!(
            ops.login("ops", support::ADMIN_PASSWORD).await.0,
            StatusCode::OK
        );
        assert_eq!(ops.get("/api/v1/orgSettings").await.0, StatusCode::OK);
        let (status, body) = ops
            .put("/api/v1/orgSettings", json!({"readOnly": true}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        // Switching read-only is audited as such.
        put_settings(&admin, json!({"readOnly": true})).await;
        put_settings(&admin, json!({"readOnly": false})).await;
        let (_, log) = admin.get("/api/v1/auditLogs").await;
        let actions: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["category"] == "orgSettings")
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["disable_read_only", "enable_read_only", "update"],
            "{backend}"
        );
    }
}

/// Read-only through the org settings on `a`, seen by `b` (the same node or another sharing
/// the store): writes 403 `STATE_READONLY` with the mode header, reads, sign-in and `/authz`
/// served, `/readyz` says so; switched off again through `b`.
async fn read_only_is_seen_by(a: &TestServer, b: &TestServer) -> Duration {
    let admin_a = a.admin().await;
    let (_idp, token) = with_route_and_token(&admin_a).await;
    let admin_b = b.admin().await;
    put_settings(&admin_a, json!({"readOnly": true})).await;
    let switched = Instant::now();
    // Each attempt under its own name: one made just before B saw the switch stays created.
    let mut attempt = 0;
    let seen = loop {
        attempt += 1;
        let role = json!({"name": format!("late-{attempt}"), "permissions": {}});
        let (status, headers, body) =
            send(&admin_b, Method::POST, "/api/v1/apiRoles", Some(role)).await;
        if status == StatusCode::FORBIDDEN {
            assert_eq!(body["code"], "STATE_READONLY", "{body}");
            assert_eq!(header(&headers, "x-portcullis-mode").unwrap(), "read-only");
            break switched.elapsed();
        }
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(
            switched.elapsed() < Duration::from_secs(3),
            "never read-only"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Every kind of write, by every kind of caller.
    let client = b.client();
    for (method, path) in [
        (Method::DELETE, "/api/v1/routes/x"),
        (Method::PUT, "/api/v1/apiRoles/x"),
        (Method::POST, "/api/v1/sandboxTokens"),
    ] {
        let (status, _, body) = send(&admin_b, method.clone(), path, Some(json!({}))).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("STATE_READONLY")),
            "{path}"
        );
        let (status, _, body) = client.bearer(method, path, &token, Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    // Reads, sign-in and sign-out, and decisions.
    let (status, headers, _) = send(&admin_b, Method::GET, "/api/v1/routes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "x-portcullis-mode").unwrap(), "read-only");
    let other = b.admin().await;
    assert_eq!(
        other.post("/api/v1/auth/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(authz(&b.base, &token).await, StatusCode::OK);
    assert_eq!(
        authz(&b.base, "not-a-token").await,
        StatusCode::UNAUTHORIZED
    );
    let ready: Value = reqwest::get(format!("{}/readyz", b.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["mode"],
        json!({"name": "read-only", "source": "orgSettings"})
    );

    // The portal says so on every page.
    let page = |client: &Client| {
        let request = client
            .raw()
            .get(format!("{}/portal/org-settings", client.base()));
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    assert!(page(&admin_b).await.contains("id=\"read-only-banner\""));

    // The settings resource switches it off (through either node).
    put_settings(&admin_b, json!({"readOnly": false})).await;
    let off = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let role = json!({"name": format!("after-{attempt}"), "permissions": {}});
        let (status, _, body) = send(&admin_a, Method::POST, "/api/v1/apiRoles", Some(role)).await;
        if status == StatusCode::CREATED {
            break;
        }
        assert_eq!(body["code"], "STATE_READONLY", "{body}");
        assert!(
            off.elapsed() < Duration::from_secs(3),
            "never writable again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!page(&admin_a).await.contains("read-only-banner"));
    seen
}

#[tokio::test]
async fn read_only_refuses_writes_and_keeps_reads_and_decisions() {
    let server = TestServer::start("sqlite").await;
    read_only_is_seen_by(&server, &server).await;
}

#[tokio::test]
async fn read_only_reaches_the_second_node_within_a_second() {
    let Some((a, b)) = support::two_postgres_nodes().await else {
        return;
    };
    let seen = read_only_is_seen_by(&a, &b).await;
    eprintln!("read-only seen by the second node after {seen:?}");
    assert!(
        seen < Duration::from_secs(1),
        "the second node saw read-only after {seen:?}"
    );
}

#[tokio::test]
async fn the_deployment_flag_makes_the_node_read_only_whatever_the_org_says() {
    let server = TestServer::start_sqlite_configured(|s| s.read_only = true).await;
    let admin = server.admin().await;
    let (status, _, body) = send(
        &admin,
        Method::POST,
        "/api/v1/apiRoles",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("STATE_READONLY"))
    );
    let ready: Value = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["mode"]["source"], "deployment");
}

/// Seconds from `now` to the end of the aligned window of `length_s`.
fn to_window_end(length_s: u64) -> u64 {
    let now_ms = u64::try_from(portcullis_store::now_ms()).unwrap();
    let length_ms = length_s * 1000;
    (length_ms - now_ms % length_ms).div_ceil(1000)
}

#[tokio::test]
async fn limits_refuse_exactly_past_their_boundary_with_retry_after() {
    for backend in support::backends() {
        let server = TestServer::start_with_settings(backend, |s| s.rate_limits = true).await;
        let admin = server.admin().await;

        // Short window (in memory): 3 per minute.
        put_settings(
            &admin,
            json!({"rateLimits": uniform_limits(window(3, 60), window(1000, 3600))}),
        )
        .await;
        let started = Instant::now();
        for n in 0..3 {
            let (status, headers, body) = send(
                &admin,
                Method::POST,
                "/api/v1/apiRoles",
                Some(json!({"name": format!("r{n}")})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{backend} {n}: {body}");
            assert_eq!(header(&headers, "x-ratelimit-limit").unwrap(), "3");
            assert_eq!(
                header(&headers, "x-ratelimit-remaining").unwrap(),
                (2 - n).to_string()
            );
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (status, headers, body) = send(
            &admin,
            Method::POST,
            "/api/v1/apiRoles",
            Some(json!({"name": "r4"})),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{backend}: {body}");
        assert_eq!(body["code"], "rate_limited");
        let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
        assert_eq!(body["retryAfter"], json!(retry));
        let expected = 60.0 - started.elapsed().as_secs_f64();
        assert!(
            (retry as f64 - expected).abs() <= 1.0,
            "{backend}: Retry-After {retry}, expected {expected:.1}"
        );
        assert_eq!(header(&headers, "x-ratelimit-remaining").unwrap(), "0");
        assert_eq!(
            header(&headers, "x-ratelimit-reset").unwrap(),
            retry.to_string()
        );
        // Another weight (a read) is counted apart.
        assert_eq!(
            send(&admin, Method::GET, "/api/v1/apiRoles", None).await.0,
            StatusCode::OK
        );

        // Long window (the store's): 4 per two hours, aligned on the epoch.
        put_settings(
            &admin,
            json!({"rateLimits": uniform_limits(window(1000, 1), window(4, 7200))}),
        )
        .await;
        for n in 0..4 {
            let (status, _, body) = send(
                &admin,
                Method::DELETE,
                &format!("/api/v1/apiRoles/nope{n}"),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{backend} {n}: {body}");
        }
        let expected = to_window_end(7200);
        let (status, headers, body) =
            send(&admin, Method::DELETE, "/api/v1/apiRoles/nope", None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{backend}: {body}");
        let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
        assert!(
            retry.abs_diff(expected) <= 1,
            "{backend}: Retry-After {retry}, expected {expected}"
        );

        // Switched off for the org: nothing is counted or refused.
        put_settings(&admin, json!({"rateLimits": {"enabled": false, "api": uniform_limits(window(1, 60), window(1, 60))["api"], "interactive": uniform_limits(window(1, 60), window(1, 60))["interactive"], "exceptions": []}})).await;
        let (status, headers, _) =
            send(&admin, Method::DELETE, "/api/v1/apiRoles/nope", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(header(&headers, "x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn the_long_window_is_shared_by_two_nodes() {
    let Some((store, name, admin_url)) = support::postgres_store().await else {
        portcullis_testkit::skip::whole("two nodes need PostgreSQL (PORTCULLIS_TEST_DATABASE_URL)");
        return;
    };
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let a = TestServer::start_configured(store, tempfile::tempdir().unwrap(), |s| {
        s.rate_limits = true
    })
    .await;
    let other = portcullis_store::Store::open(&url).await.unwrap();
    let b = TestServer::start_configured(other, tempfile::tempdir().unwrap(), |s| {
        s.rate_limits = true
    })
    .await;
    let admin_a = a.admin().await;
    put_settings(
        &admin_a,
        json!({"rateLimits": uniform_limits(window(1000, 1), window(5, 7200))}),
    )
    .await;
    let admin_b = b.admin().await;
    // b applies the new limits within its notification latency.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (node, n) in [
        (&admin_a, 0),
        (&admin_a, 1),
        (&admin_a, 2),
        (&admin_b, 3),
        (&admin_b, 4),
    ] {
        let (status, _, body) = send(node, Method::DELETE, "/api/v1/routes/nope", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "request {n}: {body}");
    }
    for node in [&admin_b, &admin_a] {
        let (status, headers, _) = send(node, Method::DELETE, "/api/v1/routes/nope", None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
        assert!(retry.abs_diff(to_window_end(7200)) <= 1);
    }
}

#[tokio::test]
async fn by_default_a_person_in_the_portal_may_delete_rows_in_a_row_and_an_api_client_may_not() {
    let server = TestServer::start_with_settings("sqlite", |s| s.rate_limits = true).await;
    let admin = server.admin().await;
    let (_idp, token) = with_route_and_token(&admin).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let (status, body) = admin
            .post("/api/v1/apiRoles", json!({"name": format!("r{n}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
        // The product's default medium limit for a session: 10 per second.
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    for id in &ids[..2] {
        let (status, _, body) = send(
            &admin,
            Method::DELETE,
            &format!("/api/v1/apiRoles/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    // An API client (bearer token): heavy is 1 per minute.
    let client = server.client();
    let (status, _, body) = client
        .bearer(
            Method::DELETE,
            &format!("/api/v1/apiRoles/{}", ids[2]),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, headers, body) = client
        .bearer(
            Method::DELETE,
            &format!("/api/v1/apiRoles/{}", ids[3]),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((58..=60).contains(&retry), "{retry}");
}

#[tokio::test]
async fn the_config_file_sets_the_org_settings() {
    let server = TestServer::start("sqlite").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(
        &path,
        "[org_settings]\n\n[org_settings.rate_limits]\nenabled = false\n\n[org_settings.rate_limits.api.heavy]\nshort = { limit = 2, window_seconds = 60 }\nlong = { limit = 8, window_seconds = 3600 }\n",
    )
    .unwrap();
    // Read-only was switched on (maintenance) before the file is applied: the file keeps it.
    let admin = server.admin().await;
    let (status, body) = admin
        .put("/api/v1/orgSettings", json!({"readOnly": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report = portcullis_server::declarative::apply_file(&server.state(), &path)
        .await
        .unwrap();
    assert_eq!(report.updated.len(), 1, "{report:?}");
    let stored = server.store.get_org_settings(server.org).await.unwrap();
    assert!(stored.read_only, "the file never switches read-only off");
    assert!(!stored.rate_limits.enabled);
    assert_eq!(stored.rate_limits.api.heavy.short.limit, 2);
    assert_eq!(
        stored.rate_limits.api.medium.long.limit, 400,
        "defaults kept"
    );
    // The same file again changes nothing.
    let again = portcullis_server::declarative::apply_file(&server.state(), &path)
        .await
        .unwrap();
    assert!(!again.changed_anything(), "{again:?}");
    // Problems name the section and the field.
    std::fs::write(
        &path,
        "[org_settings]\nactivation = \"staged\"\nreadOnly = true\n",
    )
    .unwrap();
    let err = portcullis_server::declarative::apply_file(&server.state(), &path)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("org_settings"), "{err}");
    // Nor on: `read_only` in the file is a problem naming the field.
    std::fs::write(&path, "[org_settings]\nread_only = true\n").unwrap();
    let err = portcullis_server::declarative::apply_file(&server.state(), &path)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read_only"), "{err}");
}

/// Only a Super Admin's `PUT /orgSettings` skips the limits (to repair limits set too low);
/// anyone else's is counted, so the exemption is no unthrottled way to try credentials.
#[tokio::test]
async fn the_settings_exemption_is_for_super_admins_only() {
    let server = TestServer::start_with_settings("sqlite", |s| s.rate_limits = true).await;
    let admin = server.admin().await;
    // A Super Admin's changes go through (and are never refused by the limits).
    for _ in 0..3 {
        let (status, body) = admin.put("/api/v1/orgSettings", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Signed out: the first is refused for want of credentials, the second by the limit.
    let anonymous = server.client();
    let (status, _, body) = send(
        &anonymous,
        Method::PUT,
        "/api/v1/orgSettings",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, headers, body) = send(
        &anonymous,
        Method::PUT,
        "/api/v1/orgSettings",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(header(&headers, "retry-after").is_some());
}

/// Signed-out callers behind a trusted proxy (loopback, the default) are counted by the address
/// the proxy vouches for, not all together by the proxy's.
#[tokio::test]
async fn signed_out_callers_behind_a_trusted_proxy_have_their_own_budgets() {
    let server = TestServer::start_with_settings("sqlite", |s| s.rate_limits = true).await;
    let client = server.client();
    let status_from = |address: &'static str| {
        client
            .raw()
            .get(format!("{}/api/v1/status", client.base()))
            .header("x-forwarded-for", address)
            .send()
    };
    // Light for a signed-out caller: 2 per second.
    for _ in 0..2 {
        assert_eq!(
            status_from("203.0.113.1").await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        status_from("203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status_from("203.0.113.2").await.unwrap().status(),
        StatusCode::OK
    );
    // IPv6 clients by their /64: another address in the same /64 shares the budget.
    for _ in 0..2 {
        assert_eq!(
            status_from("2001:db8:1:2::1").await.unwrap().status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        status_from("2001:db8:1:2::ffff").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Behind a trusted proxy (the harness trusts loopback), the audit log names the client the
/// proxy vouches for, not the proxy: the same reading as the rate limits and forward auth.
#[tokio::test]
async fn the_audit_log_names_the_client_behind_a_trusted_proxy() {
    let server = TestServer::start("sqlite").await;
    let client = server.client();
    let response = client
        .raw()
        .post(format!("{}/api/v1/auth/login", client.base()))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"login": "admin", "password": support::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let admin = server.admin().await;
    let (_, audit) = admin.get("/api/v1/auditLogs?action=sign_in").await;
    let addresses: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["clientIp"].as_str())
        .collect();
    assert!(addresses.contains(&"198.51.100.7"), "{audit}");
}

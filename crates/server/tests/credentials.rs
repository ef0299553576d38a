//! The credentials other than OAuth, over HTTP against the real server (DESIGN.md §1.4): the
//! Cloud Service API Key, the legacy `authenticatedSession` login and its `JSESSIONID`, the
//! `api_key` route credential through `/authz`, sandbox tokens and the sandbox API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, Client, IdpServer, TestServer, backends};

const KEY: &str = "AbCdEfGhIjKl";
const ORG: i64 = 272_378;
const ISSUER: &str = "https://login.example.com";
const OKTA_ISSUER: &str = "https://acme.okta.com/oauth2/default";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The client side of DESIGN.md §1.4, written again here (not the server's code): n = the last
/// six digits, r = n >> 1 zero-padded; key[d] for each digit of n, then key[d + 2] for r.
fn obfuscate(key: &str, timestamp: &str) -> String {
    let n = &timestamp[timestamp.len() - 6..];
    let r = format!("{:06}", n.parse::<u32>().unwrap() >> 1);
    let key: Vec<char> = key.chars().collect();
    let digit = |c: char| c.to_digit(10).unwrap() as usize;
    n.chars()
        .map(|c| key[digit(c)])
        .chain(r.chars().map(|c| key[digit(c) + 2]))
        .collect()
}

/// A timestamp within minutes of now whose last six digits are `tail`.
fn timestamp_ending(tail: i64) -> String {
    let now = now_ms();
    (now - now % 1_000_000 + tail).to_string()
}

fn login_body(key: &str, password: &str, timestamp: &str) -> Value {
    json!({"apiKey": obfuscate(key, timestamp), "username": "admin", "password": password, "timestamp": timestamp})
}

/// An HTTP call without a cookie jar, optionally carrying a `JSESSIONID`.
async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = http.request(method, format!("{}{path}", server.base));
    if let Some(session) = session {
        request = request.header("cookie", format!("JSESSIONID={session}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, json)
}

/// Signs in through the legacy flow; returns the status, the `JSESSIONID` value (if set), the
/// whole `Set-Cookie` header and the body.
async fn legacy_login(
    server: &TestServer,
    body: Value,
) -> (StatusCode, Option<String>, String, Value) {
    let (status, headers, json) = call(
        server,
        Method::POST,
        "/api/v1/authenticatedSession",
        None,
        Some(body),
    )
    .await;
    let set_cookie = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("JSESSIONID="))
        .unwrap_or_default();
    let session = set_cookie
        .strip_prefix("JSESSIONID=")
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned);
    (status, session, set_cookie, json)
}

async fn with_key(server: &TestServer, key: &str) -> Client {
    let admin = server.admin().await;
    let (status, body) = admin.post("/api/v1/apiKey", json!({"apiKey": key})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    admin
}

async fn session_for(server: &TestServer, key: &str) -> String {
    let ts = now_ms().to_string();
    let (status, session, _, body) =
        legacy_login(server, login_body(key, ADMIN_PASSWORD, &ts)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    session.unwrap()
}

async fn audit(admin: &Client, query: &str) -> Vec<Value> {
    let (status, body) = admin.get(&format!("/api/v1/auditLogs?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Every byte the SQLite database holds (main file and WAL), to prove a secret is not in it.
fn sqlite_bytes(server: &TestServer) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn api_key_add_edit_regenerate_reveal_delete_with_field_errors_and_redacted_audit() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (status, body) = admin.get("/api/v1/apiKey").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{backend}"
        );

        // Every invalid value is a 422 naming the field; nothing is stored.
        for bad in [
            json!({"apiKey": "short"}),
            json!({"apiKey": "AbCdEfGhIj-1"}),
            json!({"apiKey": "AbCdEfGhIjKl1"}),
            json!({"apiKey": "AbCdEfGhIjK\u{e9}"}),
            json!({"apiKey": 123_456_789_012_i64}),
            json!({"apiKey": "AbCdEfGhIjKl", "extra": 1}),
        ] {
            let (status, body) = admin.post("/api/v1/apiKey", bad.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert!(
                body["fields"].as_object().is_some_and(|f| !f.is_empty()),
                "{bad}: {body}"
            );
        }
        let (_, body) = admin
            .post("/api/v1/apiKey", json!({"apiKey": "short"}))
            .await;
        assert!(
            body["fields"]["apiKey"]
                .as_str()
                .unwrap()
                .contains("exactly 12 characters"),
            "{body}"
        );
        assert_eq!(admin.get("/api/v1/apiKey").await.0, StatusCode::NOT_FOUND);
        for (method, path) in [
            (Method::PUT, "/api/v1/apiKey"),
            (Method::DELETE, "/api/v1/apiKey"),
            (Method::POST, "/api/v1/apiKey/regenerate"),
        ] {
            let body = (method == Method::PUT).then(|| json!({"apiKey": "ZyXwVuTsRq98"}));
            assert_eq!(
                admin.call(method.clone(), path, body).await.0,
                StatusCode::NOT_FOUND,
                "{method} {path}"
            );
        }

        // Add: shown in full once, then masked; a second add is a conflict.
        let (status, added) = admin.post("/api/v1/apiKey", json!({"apiKey": KEY})).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(
            (added["apiKey"].as_str(), added["masked"].as_bool()),
            (Some(KEY), Some(false))
        );
        assert_eq!(added["lastModifiedBy"], "admin");
        assert!(
            added["lastModifiedOn"].as_str().unwrap().ends_with('Z'),
            "{added}"
        );
        let (status, again) = admin.post("/api/v1/apiKey", json!({})).await;
        assert_eq!(
            (status, again["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict")),
            "{again}"
        );
        let (status, shown) = admin.get("/api/v1/apiKey").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (shown["apiKey"].as_str(), shown["masked"].as_bool()),
            (Some("**********Kl"), Some(true)),
            "{shown}"
        );
        let (status, revealed) = admin
            .call(Method::POST, "/api/v1/apiKey/reveal", None)
            .await;
        assert_eq!(
            (status, revealed["apiKey"].as_str()),
            (StatusCode::OK, Some(KEY)),
            "{revealed}"
        );

        // Edit must change the value.
        let (status, same) = admin.put("/api/v1/apiKey", json!({"apiKey": KEY})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            same["fields"]["apiKey"], "must differ from the current key",
            "{same}"
        );
        let (status, missing) = admin.put("/api/v1/apiKey", json!({})).await;
        assert_eq!(
            (status, missing["fields"]["apiKey"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("required"))
        );
        let (status, edited) = admin
            .put("/api/v1/apiKey", json!({"apiKey": "ZyXwVuTsRq98"}))
            .await;
        assert_eq!(
            (status, edited["apiKey"].as_str()),
            (StatusCode::OK, Some("ZyXwVuTsRq98")),
            "{edited}"
        );

        // Regenerate: random, 12 of [A-Za-z0-9], different.
        let (status, regenerated) = admin
            .call(Method::POST, "/api/v1/apiKey/regenerate", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{regenerated}");
        let fresh = regenerated["apiKey"].as_str().unwrap().to_owned();
        assert!(
            fresh.len() == 12
                && fresh.bytes().all(|b| b.is_ascii_alphanumeric())
                && fresh != "ZyXwVuTsRq98",
            "{fresh}"
        );

        // Encrypted at rest: the store holds an AES-GCM envelope, never the key.
        let sealed = server.store.get_api_key(ORG).await.unwrap().unwrap().sealed;
        assert!(
            sealed.starts_with("v1.") && !sealed.contains(&fresh),
            "{sealed}"
        );
        if backend == "sqlite" {
            let bytes = sqlite_bytes(&server);
            for key in [KEY, "ZyXwVuTsRq98", fresh.as_str()] {
                assert!(
                    !contains(&bytes, key),
                    "the API key {key} is in the database file"
                );
            }
        }

        let (status, _) = admin.delete("/api/v1/apiKey").await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(admin.get("/api/v1/apiKey").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            admin.delete("/api/v1/apiKey").await.0,
            StatusCode::NOT_FOUND
        );
        // Add without a value: a random key.
        let (status, random) = admin.post("/api/v1/apiKey", json!({})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(random["apiKey"].as_str().unwrap().len(), 12);

        // Every change audited under api_credentials, interface API, the key never recorded.
        let entries = audit(&admin, "category=apiCredentials").await;
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "create",
                "delete",
                "regenerate",
                "update",
                "reveal",
                "create"
            ],
            "{backend}"
        );
        assert!(
            entries
                .iter()
                .all(|e| e["interface"] == "API" && e["actor"] == "admin")
        );
        let text = serde_json::to_string(&entries).unwrap();
        for key in [
            KEY,
            "ZyXwVuTsRq98",
            fresh.as_str(),
            random["apiKey"].as_str().unwrap(),
        ] {
            assert!(!text.contains(key), "{key} in the audit log: {text}");
        }
        assert!(text.contains("(redacted)"));
    }
}

#[tokio::test]
async fn view_only_roles_see_the_key_masked_and_cannot_reveal_or_change_it() {
    let server = TestServer::start("sqlite").await;
    let admin = with_key(&server, KEY).await;
    let (status, role) = admin
        .post(
            "/api/v1/adminRoles",
            json!({"name": "viewer", "permissions": {"apiCredentials": "view_only"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let (status, body) = admin
        .post(
            "/api/v1/admins",
            json!({"login": "viewer", "roleId": role["id"], "password": "viewer-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let viewer = server.client();
    assert_eq!(
        viewer.login("viewer", "viewer-password-1").await.0,
        StatusCode::OK
    );
    let (status, shown) = viewer.get("/api/v1/apiKey").await;
    assert_eq!(
        (status, shown["apiKey"].as_str()),
        (StatusCode::OK, Some("**********Kl"))
    );
    assert_eq!(viewer.get("/api/v1/sandboxTokens").await.0, StatusCode::OK);
    for (method, path, body) in [
        (Method::POST, "/api/v1/apiKey/reveal", None),
        (Method::POST, "/api/v1/apiKey/regenerate", None),
        (
            Method::PUT,
            "/api/v1/apiKey",
            Some(json!({"apiKey": "ZyXwVuTsRq98"})),
        ),
        (Method::DELETE, "/api/v1/apiKey", None),
        (
            Method::POST,
            "/api/v1/sandboxTokens",
            Some(json!({"name": "ci"})),
        ),
    ] {
        let (status, body) = viewer.call(method.clone(), path, body).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{method} {path}: {body}"
        );
    }
    assert_eq!(
        server.client().get("/api/v1/apiKey").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn legacy_login_checks_the_obfuscated_key_the_window_and_the_password() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = with_key(&server, KEY).await;

        // The hand-computed examples (policy::credentials tests work them digit by digit).
        let ts = timestamp_ending(123_456);
        assert_eq!(obfuscate(KEY, &ts), "bCdEfGCIdjEK");
        let body = json!({"apiKey": "bCdEfGCIdjEK", "username": "admin", "password": ADMIN_PASSWORD, "timestamp": ts});
        let (status, session, set_cookie, view) = legacy_login(&server, body).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {view}");
        assert!(session.is_some_and(|s| s.len() >= 43));
        let attributes = set_cookie.to_ascii_lowercase();
        assert!(
            attributes.contains("httponly")
                && attributes.contains("samesite=strict")
                && attributes.contains("path=/"),
            "{set_cookie}"
        );
        assert!(
            !attributes.contains("secure"),
            "plain http: no Secure flag ({set_cookie})"
        );
        assert_eq!(
            (
                view["username"].as_str(),
                view["authType"].as_str(),
                view["idleTimeoutSeconds"].as_u64()
            ),
            (Some("admin"), Some("api_key"), Some(300)),
            "{view}"
        );

        let ts = timestamp_ending(12_345);
        assert_eq!(
            obfuscate(KEY, &ts),
            "AbCdEfCCIdjE",
            "n keeps its leading zero"
        );
        let body = json!({"apiKey": "AbCdEfCCIdjE", "username": "admin", "password": ADMIN_PASSWORD, "timestamp": ts});
        assert_eq!(legacy_login(&server, body).await.0, StatusCode::OK);

        // Timestamp window: ±2 h of the server clock, edges included (with a little slack for
        // the time the request takes), just outside refused with a field error.
        let hour2 = 2 * 3600 * 1000;
        for (offset, ok) in [
            (hour2 - 5_000, true),
            (-hour2 + 5_000, true),
            (hour2 + 60_000, false),
            (-hour2 - 60_000, false),
        ] {
            let ts = (now_ms() + offset).to_string();
            let (status, _, _, body) =
                legacy_login(&server, login_body(KEY, ADMIN_PASSWORD, &ts)).await;
            if ok {
                assert_eq!(status, StatusCode::OK, "offset {offset}: {body}");
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "offset {offset}: {body}"
                );
                assert!(
                    body["fields"]["timestamp"]
                        .as_str()
                        .unwrap()
                        .contains("within 2 hours"),
                    "{body}"
                );
            }
        }

        // Field errors.
        let ts = now_ms().to_string();
        let good = login_body(KEY, ADMIN_PASSWORD, &ts);
        let mut cases: Vec<(Value, &str)> = Vec::new();
        for (field, value, named) in [
            ("timestamp", json!(now_ms()), "timestamp"),
            ("timestamp", json!("soon"), "timestamp"),
            ("timestamp", json!(""), "timestamp"),
            ("apiKey", json!("bCdEfG"), "apiKey"),
            ("apiKey", json!("bCdEfGCIdj-K"), "apiKey"),
            ("username", json!(""), "username"),
            ("password", json!(""), "password"),
        ] {
            let mut body = good.clone();
            body[field] = value;
            cases.push((body, named));
        }
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("password");
        cases.push((missing, "password"));
        let mut extra = good.clone();
        extra["remember"] = json!(true);
        cases.push((extra, "remember"));
        for (body, field) in cases {
            let (status, _, _, answer) = legacy_login(&server, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
            assert!(
                answer["fields"][field].is_string(),
                "{field} not named: {answer}"
            );
        }

        // Wrong credentials: one answer for every cause.
        let mut wrong_key = good.clone();
        wrong_key["apiKey"] = json!(KEY); // the key itself, not obfuscated
        let wrong_password = login_body(KEY, "not-the-password", &ts);
        let mut unknown_user = good.clone();
        unknown_user["username"] = json!("nobody");
        for body in [wrong_key, wrong_password, unknown_user] {
            let (status, session, _, answer) = legacy_login(&server, body).await;
            assert_eq!((status, session), (StatusCode::UNAUTHORIZED, None));
            assert_eq!(answer["message"], "wrong API key, username or password");
        }
        let failures = audit(&admin, "action=sign_in&result=failure").await;
        let details: Vec<&str> = failures
            .iter()
            .map(|e| e["detail"].as_str().unwrap())
            .collect();
        assert_eq!(
            details,
            [
                "API key session: unknown login",
                "API key session: wrong password",
                "API key session: wrong API key (the password was right)"
            ],
            "{backend}"
        );
    }
}

#[tokio::test]
async fn a_legacy_session_calls_the_api_without_csrf_and_ends_on_delete() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = with_key(&server, KEY).await;
        let session = session_for(&server, KEY).await;

        let (status, _, view) = call(
            &server,
            Method::GET,
            "/api/v1/authenticatedSession",
            Some(&session),
            None,
        )
        .await;
        assert_eq!(
            (status, view["username"].as_str()),
            (StatusCode::OK, Some("admin")),
            "{view}"
        );
        let (status, _, list) = call(
            &server,
            Method::GET,
            "/api/v1/authorizationServers",
            Some(&session),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        // A change needs no CSRF token with JSESSIONID, and is audited as the admin through the API.
        let (status, _, role) = call(
            &server,
            Method::POST,
            "/api/v1/apiRoles",
            Some(&session),
            Some(json!({"name": "legacy-made"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {role}");
        let created = audit(&admin, "resource=legacy-made").await;
        assert_eq!(
            (
                created[0]["actor"].as_str(),
                created[0]["interface"].as_str()
            ),
            (Some("admin"), Some("API"))
        );

        let (status, _, _) = call(
            &server,
            Method::DELETE,
            "/api/v1/authenticatedSession",
            Some(&session),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        for path in [
            "/api/v1/authenticatedSession",
            "/api/v1/authorizationServers",
        ] {
            let (status, headers, _) = call(&server, Method::GET, path, Some(&session), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                headers["www-authenticate"],
                format!(
                    "Bearer realm=\"portcullis\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                    server.base
                )
                .as_str()
            );
        }
        assert_eq!(
            call(
                &server,
                Method::DELETE,
                "/api/v1/authenticatedSession",
                Some(&session),
                None
            )
            .await
            .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(
                &server,
                Method::GET,
                "/api/v1/authenticatedSession",
                Some("made-up"),
                None
            )
            .await
            .0,
            StatusCode::UNAUTHORIZED
        );
        let signs: Vec<String> = audit(&admin, "result=success")
            .await
            .iter()
            .filter(|e| e["detail"] == "API key session")
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(signs, ["sign_out", "sign_in"], "{backend}");

        // Only the hash of the session id is stored.
        if backend == "sqlite" {
            assert!(!contains(&sqlite_bytes(&server), &session));
        }
    }
}

#[tokio::test]
async fn https_deployments_get_a_secure_cookie() {
    let server = TestServer::start_with_settings("sqlite", |s| {
        s.public_base_url = "https://gate.example.com".into()
    })
    .await;
    // The portal's own cookie is Secure here too, so this plain-http test client could not use
    // it: the key is put in place through the store, sealed as the server seals it.
    let sealed = support::test_secret_key()
        .seal(
            portcullis_server::secrets::Purpose::ApiKey,
            ORG,
            KEY.as_bytes(),
        )
        .unwrap();
    let system = portcullis_store::Actor::system("test", portcullis_store::Interface::System);
    server
        .store
        .create_api_key(ORG, &sealed, &system)
        .await
        .unwrap();
    let ts = now_ms().to_string();
    let (status, _, set_cookie, body) =
        legacy_login(&server, login_body(KEY, ADMIN_PASSWORD, &ts)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        set_cookie.to_ascii_lowercase().contains("; secure"),
        "{set_cookie}"
    );
}

#[tokio::test]
async fn five_failures_lock_the_admin_for_both_sign_in_flows() {
    let server = TestServer::start("sqlite").await;
    let _admin = with_key(&server, KEY).await;
    let ts = now_ms().to_string();
    // Three failures through the legacy flow (one of them a wrong key with the right password)…
    for body in [
        login_body(KEY, "wrong-1", &ts),
        login_body(KEY, "wrong-2", &ts),
        login_body("ZyXwVuTsRq98", ADMIN_PASSWORD, &ts),
    ] {
        assert_eq!(
            legacy_login(&server, body).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // …and two through the portal login make five within a minute.
    let portal = server.client();
    for _ in 0..2 {
        assert_eq!(
            portal.login("admin", "wrong-password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, locked) = portal.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        (status, locked["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("locked")),
        "{locked}"
    );
    let (status, _, _, locked) = legacy_login(&server, login_body(KEY, ADMIN_PASSWORD, &ts)).await;
    assert_eq!(
        (status, locked["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("locked")),
        "{locked}"
    );
}

#[tokio::test]
async fn legacy_sessions_expire_after_the_idle_timeout() {
    let server = TestServer::start_with_settings("sqlite", |s| {
        s.legacy_session_idle = Duration::from_secs(2)
    })
    .await;
    let _admin = with_key(&server, KEY).await;
    let session = session_for(&server, KEY).await;
    // Used every half second for 3 s (longer than the idle timeout): it stays alive.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, _, body) = call(
            &server,
            Method::GET,
            "/api/v1/authenticatedSession",
            Some(&session),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["idleTimeoutSeconds"], 2);
    }
    // Idle for longer than 2 s: gone, through the API and the store alike.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let (status, _, _) = call(
        &server,
        Method::GET,
        "/api/v1/authorizationServers",
        Some(&session),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(
            &server,
            Method::GET,
            "/api/v1/authenticatedSession",
            Some(&session),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    let hash = portcullis_server::secrets::sha256_hex(session.as_bytes());
    assert_eq!(
        server
            .store
            .touch_legacy_session(ORG, &hash, 60_000)
            .await
            .unwrap(),
        None,
        "the expired session was deleted"
    );
}

#[tokio::test]
async fn every_key_change_ends_sessions_and_the_old_key_at_once() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = with_key(&server, KEY).await;
        let mut key = KEY.to_owned();
        for change in ["regenerate", "edit", "delete"] {
            let session = session_for(&server, &key).await;
            assert_eq!(
                call(
                    &server,
                    Method::GET,
                    "/api/v1/authenticatedSession",
                    Some(&session),
                    None
                )
                .await
                .0,
                StatusCode::OK
            );
            let (status, body) = match change {
                "regenerate" => {
                    admin
                        .call(Method::POST, "/api/v1/apiKey/regenerate", None)
                        .await
                }
                "edit" => {
                    admin
                        .put("/api/v1/apiKey", json!({"apiKey": "ZyXwVuTsRq98"}))
                        .await
                }
                _ => admin.delete("/api/v1/apiKey").await,
            };
            assert!(status.is_success(), "{change}: {body}");
            // The very next request with the old session is refused, on the API and on /authz.
            let (status, _, _) = call(
                &server,
                Method::GET,
                "/api/v1/authenticatedSession",
                Some(&session),
                None,
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{backend}: session survived {change}"
            );
            let ts = now_ms().to_string();
            let (status, _, _, _) =
                legacy_login(&server, login_body(&key, ADMIN_PASSWORD, &ts)).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{backend}: the old key still signs in after {change}"
            );
            if change != "delete" {
                key = body["apiKey"].as_str().unwrap().to_owned();
                let (status, _, _, _) =
                    legacy_login(&server, login_body(&key, ADMIN_PASSWORD, &ts)).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{backend}: the new key after {change}"
                );
            }
        }
        let ended = audit(&admin, "category=apiCredentials&action=regenerate").await;
        assert!(
            ended[0]["detail"]
                .as_str()
                .unwrap()
                .contains("ended 1 API key session"),
            "{:?}",
            ended[0]
        );
    }
}

async fn authz(
    server: &TestServer,
    uri: &str,
    session: Option<&str>,
    bearer: Option<&str>,
) -> (StatusCode, HeaderMap) {
    let mut request = reqwest::Client::new()
        .get(format!("{}/authz", server.base))
        .header("x-original-method", "GET")
        .header("x-original-uri", uri);
    if let Some(session) = session {
        request = request.header("cookie", format!("JSESSIONID={session}"));
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.headers().clone())
}

#[tokio::test]
async fn the_api_key_route_credential_admits_live_legacy_sessions_through_authz() {
    let server = TestServer::start("sqlite").await;
    let admin = with_key(&server, KEY).await;
    let idp = IdpServer::start().await;
    let key = TestKey::ec("ec-1", "ES256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let (status, body) = admin
        .post("/api/v1/authorizationServers", json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": ["legacy-api"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for route in [
        json!({"name": "legacy", "match": {"pathPrefix": "/legacy"}, "policy": {"credentials": ["api_key"]}}),
        json!({"name": "mixed", "match": {"pathPrefix": "/mixed"}, "policy": {"credentials": ["oauth", "api_key"], "scopes": {"allOf": ["mixed:read"]}}}),
        json!({"name": "oauth-only", "match": {"pathPrefix": "/oauth"}}),
    ] {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let session = session_for(&server, KEY).await;
    let token = key.sign(&json!({"iss": ISSUER, "aud": "legacy-api", "sub": "svc", "scope": "other", "iat": now(), "exp": now() + 300}));

    let (status, headers) = authz(&server, "/legacy/orders", Some(&session), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-auth-subject"], "admin");
    let (status, headers) = authz(&server, "/legacy/orders", None, None).await;
    assert_eq!(
        (status, headers["www-authenticate"].to_str().unwrap()),
        (
            StatusCode::UNAUTHORIZED,
            format!(
                "Bearer realm=\"portcullis\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
                server.base
            )
            .as_str()
        )
    );
    assert_eq!(
        authz(&server, "/legacy/orders", Some("forged-session"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        authz(&server, "/legacy/orders", None, Some(&token)).await.0,
        StatusCode::UNAUTHORIZED,
        "a bearer token is not an API key session"
    );
    assert_eq!(
        authz(&server, "/oauth/x", Some(&session), None).await.0,
        StatusCode::UNAUTHORIZED,
        "a route without api_key ignores the session"
    );
    // A route accepting both: the session is admitted (scope rules are about OAuth tokens); a
    // bearer token, when sent, is the credential checked.
    assert_eq!(
        authz(&server, "/mixed/x", Some(&session), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        authz(&server, "/mixed/x", Some(&session), Some(&token))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Ending the session stops it at once on this node.
    assert_eq!(
        call(
            &server,
            Method::DELETE,
            "/api/v1/authenticatedSession",
            Some(&session),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        authz(&server, "/legacy/orders", Some(&session), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // So does deleting the admin it belongs to.
    let (status, role) = admin.get("/api/v1/adminRoles").await;
    assert_eq!(status, StatusCode::OK);
    let super_admin = role["items"][0]["id"].clone();
    let (status, other) = admin
        .post(
            "/api/v1/admins",
            json!({"login": "second", "roleId": super_admin, "password": "second-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let ts = now_ms().to_string();
    let mut body = login_body(KEY, "second-password-1", &ts);
    body["username"] = json!("second");
    let (status, second, _, _) = legacy_login(&server, body).await;
    assert_eq!(status, StatusCode::OK);
    let second = second.unwrap();
    let (_, headers) = authz(&server, "/legacy/x", Some(&second), None).await;
    assert_eq!(headers["x-auth-subject"], "second");
    let id = other["id"].as_str().unwrap();
    assert_eq!(
        admin.delete(&format!("/api/v1/admins/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        authz(&server, "/legacy/x", Some(&second), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sandbox_tokens_are_limited_named_and_stored_only_as_hashes() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        for (bad, field) in [
            (json!({"name": "has space"}), "name"),
            (json!({"name": ""}), "name"),
            (json!({"name": "x".repeat(65)}), "name"),
            (json!({}), "name"),
            (json!({"name": "ok", "token": "mine"}), "token"),
        ] {
            let (status, body) = admin.post("/api/v1/sandboxTokens", bad.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
            assert!(body["fields"][field].is_string(), "{bad}: {body}");
        }
        let mut tokens = Vec::new();
        for i in 0..5 {
            let (status, created) = admin
                .post("/api/v1/sandboxTokens", json!({"name": format!("dev-{i}")}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let token = created["token"].as_str().unwrap().to_owned();
            assert!(token.starts_with("pcs_") && token.len() == 47, "{token}");
            assert_eq!(created["hint"].as_str().unwrap(), &token[43..]);
            assert_eq!(
                created["maskedToken"].as_str().unwrap(),
                format!("pcs_****{}", &token[43..])
            );
            tokens.push((created["id"].as_str().unwrap().to_owned(), token));
        }
        let (status, sixth) = admin
            .post("/api/v1/sandboxTokens", json!({"name": "dev-5"}))
            .await;
        assert_eq!(
            (status, sixth["code"].as_str()),
            (StatusCode::CONFLICT, Some("limit_exceeded")),
            "{backend}: {sixth}"
        );
        let (status, duplicate) = admin
            .put(
                &format!("/api/v1/sandboxTokens/{}", tokens[0].0),
                json!({"name": "dev-1"}),
            )
            .await;
        assert_eq!(
            (status, duplicate["fields"]["name"].as_str()),
            (StatusCode::CONFLICT, Some("already in use")),
            "{duplicate}"
        );

        // Lists never carry a value.
        let (status, list) = admin.get("/api/v1/sandboxTokens").await;
        assert_eq!((status, list["limit"].as_i64()), (StatusCode::OK, Some(5)));
        let text = list.to_string();
        assert_eq!(list["items"].as_array().unwrap().len(), 5);
        assert!(
            list["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t.get("token").is_none())
        );
        // Only SHA-256 of each token is stored.
        for (id, token) in &tokens {
            assert!(!text.contains(token.as_str()));
            let hash = portcullis_server::secrets::sha256_hex(token.as_bytes());
            let stored = server
                .store
                .find_sandbox_token(ORG, &hash)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((&stored.id, stored.token_hash.len()), (id, 64));
        }
        if backend == "sqlite" {
            let bytes = sqlite_bytes(&server);
            for (_, token) in &tokens {
                assert!(
                    !contains(&bytes, token),
                    "a sandbox token is in the database file"
                );
            }
        }

        // Rename keeps the value; regenerate replaces it; delete ends it.
        let (id, old) = tokens[0].clone();
        let (status, renamed) = admin
            .put(
                &format!("/api/v1/sandboxTokens/{id}"),
                json!({"name": "ci", "version": 1}),
            )
            .await;
        assert_eq!(
            (status, renamed["name"].as_str(), renamed.get("token")),
            (StatusCode::OK, Some("ci"), None),
            "{renamed}"
        );
        let (status, stale) = admin
            .put(
                &format!("/api/v1/sandboxTokens/{id}"),
                json!({"name": "cd", "version": 1}),
            )
            .await;
        assert_eq!(
            (status, stale["code"].as_str()),
            (StatusCode::CONFLICT, Some("version_conflict"))
        );
        assert_eq!(
            admin
                .put(
                    &format!("/api/v1/sandboxTokens/{id}"),
                    json!({"name": "bad name"})
                )
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            admin
                .put("/api/v1/sandboxTokens/nope", json!({"name": "x"}))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let evaluate = |token: String| {
            let base = server.base.clone();
            async move {
                reqwest::Client::new()
                    .post(format!("{base}/sandbox/v1/evaluate"))
                    .bearer_auth(token)
                    .json(&json!({"token": "x.y.z"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(evaluate(old.clone()).await, StatusCode::OK);
        let (status, regenerated) = admin
            .call(
                Method::POST,
                &format!("/api/v1/sandboxTokens/{id}/regenerate"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{regenerated}");
        let new = regenerated["token"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert_eq!(
            evaluate(old).await,
            StatusCode::UNAUTHORIZED,
            "{backend}: the old value still works"
        );
        assert_eq!(evaluate(new.clone()).await, StatusCode::OK);
        assert_eq!(
            admin.delete(&format!("/api/v1/sandboxTokens/{id}")).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(evaluate(new).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            admin.delete(&format!("/api/v1/sandboxTokens/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            admin
                .call(Method::POST, "/api/v1/sandboxTokens/nope/regenerate", None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );

        let entries = audit(&admin, "category=apiCredentials").await;
        let actions: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "delete",
                "regenerate",
                "update",
                "create",
                "create",
                "create",
                "create",
                "create"
            ],
            "{backend}"
        );
        let text = serde_json::to_string(&entries).unwrap();
        for (_, token) in &tokens {
            assert!(!text.contains(&token[4..]), "a token in the audit log");
        }
    }
}

struct Sandbox {
    server: TestServer,
    idp: IdpServer,
    key: TestKey,
    token: String,
    admin: Client,
}

async fn sandbox() -> Sandbox {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("rsa-1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let (status, body) = admin
        .post("/api/v1/authorizationServers", json!({"name": "okta", "preset": "okta", "jwksUri": idp.url("/keys"), "issuer": OKTA_ISSUER, "audiences": ["api://portcullis"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post(
            "/api/v1/apiRoles",
            json!({"name": "automation", "permissions": {"routes": "full"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = admin
        .post("/api/v1/routes", json!({"name": "orders", "match": {"pathPrefix": "/orders"},
              "policy": {"scopes": {"allOf": ["orders:read"]}, "forwardClaims": {"X-Auth-Subject": "sub", "X-Auth-Scopes": "$scopes"}}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, created) = admin
        .post("/api/v1/sandboxTokens", json!({"name": "developer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    // The key check fetched once on create; the key manager adopts those keys and schedules its
    // first refresh a refresh interval later, so after a schedule tick there is still exactly
    // one request, and later counts of IdP requests see only what the test causes.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(idp.requests(), 1, "only the key check on create");
    Sandbox {
        server,
        idp,
        key,
        token,
        admin,
    }
}

fn jwt(key: &TestKey, scopes: &[&str], exp_in: i64) -> String {
    key.sign(&json!({"iss": OKTA_ISSUER, "aud": "api://portcullis", "sub": "svc-ci", "cid": "ci", "scp": scopes,
                     "iat": now() - 60, "exp": now() + exp_in}))
}

async fn evaluate(s: &Sandbox, body: Value) -> (StatusCode, HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/sandbox/v1/evaluate", s.server.base))
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|s| s["step"] == name)
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn the_sandbox_explains_accepted_and_rejected_tokens() {
    let s = sandbox().await;
    let role = format!("portcullis.local::{ORG}::automation");

    // Accepted, for the cloud service API: the API role it maps to.
    let good = jwt(&s.key, &[&role, "orders:read"], 600);
    let (status, _, report) = evaluate(&s, json!({"token": good})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (report["verdict"].as_str(), report["status"].as_u64()),
        (Some("allow"), Some(200)),
        "{report}"
    );
    assert_eq!(report["header"]["kid"], "rsa-1");
    assert_eq!(report["payload"]["sub"], "svc-ci");
    assert_eq!(report["server"]["name"], "okta");
    assert_eq!(report["token"]["clientId"], "ci");
    assert_eq!(step(&report, "signature")["outcome"], "pass");
    assert_eq!(step(&report, "audience")["outcome"], "pass");
    assert_eq!(step(&report, "authorization")["outcome"], "pass");
    assert_eq!(report["authorization"]["kind"], "apiRoles");
    assert_eq!(report["authorization"]["roles"], json!(["automation"]));
    assert_eq!(report["authorization"]["permissions"]["routes"], "full");

    // The same token for an upstream request: the route, the decision, the identity headers.
    let (_, _, report) = evaluate(
        &s,
        json!({"token": good, "method": "get", "path": "/orders/42"}),
    )
    .await;
    assert_eq!(report["verdict"], "allow", "{report}");
    assert_eq!(report["authorization"]["route"]["name"], "orders");
    assert_eq!(report["authorization"]["request"]["method"], "GET");
    assert_eq!(
        report["authorization"]["identityHeaders"]["X-Auth-Subject"],
        "svc-ci"
    );

    // Rejections, each with its code, the failing step and the live status.
    let expired = jwt(&s.key, &[&role], -600);
    let no_role = jwt(&s.key, &["orders:read"], 600);
    let no_scope = jwt(&s.key, &[&role], 600);
    let other_key = TestKey::rsa("rsa-unknown", 2048, "RS256");
    let unknown_kid = jwt(&other_key, &[&role], 600);
    let forged = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[2] = jwt(&s.key, &["x"], 600)
            .split('.')
            .nth(2)
            .unwrap()
            .to_owned();
        parts.join(".")
    };
    let cases: Vec<(Value, &str, u64, Option<&str>)> = vec![
        (json!({"token": expired}), "expired", 401, Some("expiry")),
        (
            json!({"token": forged}),
            "signature_invalid",
            401,
            Some("signature"),
        ),
        (
            json!({"token": unknown_kid}),
            "kid_unknown",
            401,
            Some("key_selection"),
        ),
        (
            json!({"token": "not-a-jwt"}),
            "token_malformed",
            401,
            Some("shape"),
        ),
        (
            json!({"token": no_role}),
            "no_api_role",
            403,
            Some("authorization"),
        ),
        (
            json!({"token": no_scope, "path": "/orders/1"}),
            "insufficient_scope",
            403,
            Some("authorization"),
        ),
        (
            json!({"token": good, "method": "DELETE", "path": "/nowhere"}),
            "no_route",
            403,
            Some("authorization"),
        ),
    ];
    let fetches_before = s.idp.requests();
    for (body, code, live_status, failed_step) in cases {
        let (status, _, report) = evaluate(&s, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the sandbox answers 200 with the verdict: {report}"
        );
        assert_eq!(
            (
                report["verdict"].as_str(),
                report["code"].as_str(),
                report["status"].as_u64()
            ),
            (Some("deny"), Some(code), Some(live_status)),
            "{body}: {report}"
        );
        assert!(report["reason"].as_str().is_some_and(|r| !r.is_empty()));
        if let Some(failed) = failed_step {
            assert_eq!(step(&report, failed)["outcome"], "fail", "{code}: {report}");
        }
        if code == "kid_unknown" {
            assert!(
                report["notes"][0].as_str().unwrap().contains("refetch"),
                "{report}"
            );
        }
        if live_status == 401 {
            assert!(report["clientDescription"].is_string(), "{report}");
            assert_eq!(step(&report, "authorization")["outcome"], "skip");
        }
    }
    assert_eq!(
        s.idp.requests(),
        fetches_before,
        "the sandbox fetched keys (an unknown kid must not refetch)"
    );
}

#[tokio::test]
async fn the_sandbox_has_no_side_effects() {
    let s = sandbox().await;
    let role = format!("portcullis.local::{ORG}::automation");
    let token = jwt(&s.key, &[&role], 600);
    let audit_before = audit(&s.admin, "").await.len();
    for _ in 0..3 {
        assert_eq!(
            evaluate(&s, json!({"token": token})).await.2["verdict"],
            "allow"
        );
    }
    assert_eq!(
        audit(&s.admin, "").await.len(),
        audit_before,
        "the sandbox wrote to the audit log"
    );
    let hits = || async {
        let metrics = reqwest::get(format!("{}/metrics", s.server.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find(|l| l.starts_with("portcullis_token_cache_hits_total "))
            .unwrap()
            .to_owned()
    };
    // Not cached by the sandbox: the first live use is a miss, the second a hit.
    let client = s.server.client();
    assert_eq!(
        client
            .bearer(Method::GET, "/api/v1/routes", &token, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(hits().await, "portcullis_token_cache_hits_total 0");
    assert_eq!(
        client
            .bearer(Method::GET, "/api/v1/routes", &token, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(hits().await, "portcullis_token_cache_hits_total 1");
}

#[tokio::test]
async fn the_sandbox_authenticates_with_rfc6750_answers_and_checks_its_input() {
    let s = sandbox().await;
    let url = format!("{}/sandbox/v1/evaluate", s.server.base);
    let http = reqwest::Client::new();
    let body = json!({"token": "x.y.z"});

    let response = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"portcullis-sandbox\""
    );
    for bad in [
        "pcs_wrong",
        &format!("pcs_{}", "A".repeat(43)),
        "eyJhbGciOi.x.y",
    ] {
        let response = http
            .post(&url)
            .bearer_auth(bad)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    // The query form works; both forms at once are a bad request.
    let response = http
        .post(format!("{url}?api_token={}", s.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http
        .post(format!("{url}?api_token={}", s.token))
        .bearer_auth(&s.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = http
        .post(&url)
        .header("authorization", format!("Basic {}", s.token))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // An admin session or an OAuth token is not a sandbox token, and a sandbox token opens nothing else.
    let (status, _, _) = s
        .server
        .client()
        .bearer(Method::GET, "/api/v1/routes", &s.token, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for (bad, field) in [
        (json!({}), "token"),
        (json!({"token": ""}), "token"),
        (json!({"token": "x", "path": "orders"}), "path"),
        (json!({"token": "x", "method": "GET"}), "path"),
        (
            json!({"token": "x", "method": "FETCH", "path": "/"}),
            "method",
        ),
        (
            json!({"token": "x", "host": "http://x/", "path": "/"}),
            "host",
        ),
        (json!({"token": "x", "verbose": true}), "verbose"),
        (json!({"token": 5}), "token"),
    ] {
        let (status, _, answer) = evaluate(&s, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert!(answer["fields"][field].is_string(), "{bad}: {answer}");
    }
    let response = http
        .post(&url)
        .bearer_auth(&s.token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = http.get(&url).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_sandbox_is_rate_limited_per_client() {
    let server = TestServer::start_with_settings("sqlite", |s| {
        s.sandbox_rate_per_s = 0.2;
        s.sandbox_burst = 3;
    })
    .await;
    let url = format!("{}/sandbox/v1/evaluate", server.base);
    let http = reqwest::Client::new();
    // Bad tokens spend the budget too: the limit comes before the lookup.
    for _ in 0..3 {
        let status = http
            .post(&url)
            .bearer_auth("pcs_wrong")
            .json(&json!({"token": "x"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = http
        .post(&url)
        .bearer_auth("pcs_wrong")
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
}

#[tokio::test]
async fn without_an_api_key_nobody_signs_in_the_legacy_way() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let ts = now_ms().to_string();
    let (status, session, _, body) =
        legacy_login(&server, login_body(KEY, ADMIN_PASSWORD, &ts)).await;
    assert_eq!(
        (status, session),
        (StatusCode::UNAUTHORIZED, None),
        "{body}"
    );
    let failures = audit(&admin, "action=sign_in&result=failure").await;
    assert_eq!(
        failures[0]["detail"],
        "API key session: no API key is configured (the password was right)"
    );
}

/// The sandbox decides on the same canonical target as the gateway: an ambiguous path is a
/// field error naming the gateway's refusal, and another spelling of a path matches its route.
#[tokio::test]
async fn the_sandbox_uses_the_canonical_request_target() {
    let s = sandbox().await;
    let good = jwt(&s.key, &["orders:read"], 600);
    for path in [
        "/docs/../orders/1",
        "/orders/%2e%2e/admin",
        "//orders/1",
        "/orders%2F1",
        "/orders/1#x",
    ] {
        let (status, _, body) = evaluate(&s, json!({"token": good, "path": path})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(
            body["fields"]["path"]
                .as_str()
                .is_some_and(|m| m.starts_with("invalid_request_target")),
            "{path}: {body}"
        );
    }
    let (status, _, body) = evaluate(
        &s,
        json!({"token": good, "path": "/orders/1", "host": "bad host"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["host"].is_string(), "{body}");
    let (status, _, report) =
        evaluate(&s, json!({"token": good, "path": "/%6Frders/42?q=%2e%2e"})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report["authorization"]["route"]["name"], "orders",
        "{report}"
    );
}

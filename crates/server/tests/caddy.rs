//! Real Caddy in front of an upstream, with its `forward_auth` directive asking Portcullis's
//! `/authz` (the recipe in docs/proxies.md): allowed requests reach the upstream with the
//! identity headers, denials never reach it, and no path variant or client-sent header can make
//! the upstream serve a protected prefix (issue 10).
//!
//! Needs the `caddy` binary (Debian's `caddy` package); without it the test says `SKIPPED` and
//! passes, unless `PORTCULLIS_REQUIRE_CADDY=1` (set by `.ci/run`) makes it fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use serde_json::json;
use support::bypass::{raw_exchange, raw_request, send_every_variant};
use support::{EchoUpstream, IdpServer, TestServer};

const ISSUER: &str = "https://login.example.com";
const REQUIRE_CADDY: &str = "PORTCULLIS_REQUIRE_CADDY";

fn find_caddy() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin/caddy"))
        .chain(std::env::split_paths(&paths).map(|dir| dir.join("caddy")))
        .find(|path| path.is_file())
}

fn caddy_or_skip() -> Option<PathBuf> {
    if let Some(binary) = find_caddy() {
        return Some(binary);
    }
    assert!(
        std::env::var(REQUIRE_CADDY).as_deref() != Ok("1"),
        "caddy not installed and {REQUIRE_CADDY}=1: install the caddy package"
    );
    portcullis_testkit::skip::whole(
        "caddy not installed (install the caddy package; .ci/run does)",
    );
    None
}

/// The Caddyfile: the docs/proxies.md recipe unchanged but for the addresses, plus the global
/// options a test instance needs and a readiness marker.
fn caddyfile(port: u16, portcullis: &str, upstream: u16) -> String {
    let docs = include_str!("../../../docs/proxies.md");
    let start = docs
        .find("```caddyfile\n")
        .expect("docs/proxies.md has a caddyfile block")
        + 13;
    let end = start + docs[start..].find("```").expect("the caddyfile block ends");
    let site = docs[start..end]
        .replace(
            ":80 {",
            &format!("http://:{port} {{\n    handle /__ready {{\n        respond \"caddy-ready-{port}\"\n    }}"),
        )
        .replace("127.0.0.1:8080", portcullis)
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{upstream}"));
    format!("{{\n    admin off\n    auto_https off\n}}\n\n{site}")
}

struct Caddy {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Caddy {
    async fn start(binary: &Path, portcullis: &str, upstream: u16) -> Caddy {
        let mut failures = Vec::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = support::free_port();
            let file = dir.path().join("Caddyfile");
            std::fs::write(&file, caddyfile(port, portcullis, upstream)).unwrap();
            let log = std::fs::File::create(dir.path().join("caddy.log")).unwrap();
            let child = Command::new(binary)
                .arg("run")
                .arg("--config")
                .arg(&file)
                .arg("--adapter")
                .arg("caddyfile")
                .env("HOME", dir.path())
                .env("XDG_DATA_HOME", dir.path().join("data"))
                .env("XDG_CONFIG_HOME", dir.path().join("config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut caddy = Caddy { child, port, dir };
            match caddy.wait_ready().await {
                Ok(()) => return caddy,
                Err(logs) if logs.contains("address already in use") => failures.push(logs),
                Err(logs) => panic!("caddy did not start:\n{logs}"),
            }
        }
        panic!("caddy found no free port:\n{}", failures.join("\n---\n"));
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let marker = format!("caddy-ready-{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("caddy exited ({status})\n{}", self.logs()));
            }
            if tokio::net::TcpStream::connect(self.addr()).await.is_ok() {
                let (status, body) =
                    raw_exchange(&self.addr(), "GET", "/__ready", "localhost", &[]).await;
                if status == 200 && body.contains(&marker) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("caddy not answering after 20 s\n{}", self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("caddy.log")).unwrap_or_default()
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "--- caddy log\n{}", self.logs());
        }
    }
}

#[tokio::test]
async fn caddy_forward_auth_decides_on_exactly_what_the_upstream_serves() {
    let Some(binary) = caddy_or_skip() else {
        return;
    };
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
    for route in [
        json!({"name": "orders", "match": {"pathPrefix": "/orders", "methods": ["GET", "POST"]},
               "policy": {"scopes": {"allOf": ["orders:read"]}}}),
        json!({"name": "docs", "match": {"pathPrefix": "/docs"}, "policy": {"credentials": ["none"]}}),
    ] {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let upstream = EchoUpstream::start().await;
    let portcullis = server.base.strip_prefix("http://").unwrap();
    let caddy = Caddy::start(&binary, portcullis, upstream.port).await;
    let addr = caddy.addr();

    // Allowed with a token, identity forwarded; denied without, never reaching the upstream.
    let token = key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci",
                                  "scope": "orders:read", "iat": now(), "exp": now() + 300}),
    );
    let bearer = format!("Bearer {token}");
    let (status, body) = raw_exchange(
        &addr,
        "GET",
        "/orders/1?page=2",
        "localhost",
        &[("Authorization", &bearer), ("X-Auth-Subject", "root")],
    )
    .await;
    assert_eq!(status, 200, "{body}\n{}", caddy.logs());
    assert!(body.contains("GET /orders/1?page=2 "), "{body}");
    assert!(body.contains("x-auth-subject: svc-ci"), "{body}");
    assert!(
        !body.contains("root"),
        "a client-sent identity header passed: {body}"
    );
    let before = upstream.hits();
    assert_eq!(
        raw_request(&addr, "GET", "/orders/1", "localhost", &[]).await,
        401
    );
    assert_eq!(upstream.hits(), before);

    // Every variant without a token.
    send_every_variant(&addr, "localhost", &upstream).await;

    // The client's own copy of the other family (Caddy passes a client's X-Original-* through).
    let before = upstream.hits();
    for spoof in [
        vec![("X-Original-URI", "/docs/x"), ("X-Original-Method", "GET")],
        vec![
            ("X-Forwarded-Uri", "/docs/x"),
            ("X-Forwarded-Method", "GET"),
        ],
        vec![("X-HTTP-Method-Override", "GET")],
    ] {
        let status = raw_request(&addr, "GET", "/orders/1", "localhost", &spoof).await;
        assert_ne!(status, 200, "{spoof:?}");
    }
    assert_eq!(
        upstream.hits(),
        before,
        "a spoofed request reached the upstream"
    );

    // Public route: client-sent identity headers are dropped.
    let (status, body) = raw_exchange(
        &addr,
        "GET",
        "/docs/page",
        "localhost",
        &[("X-Auth-Subject", "root"), ("X-Auth-Scopes", "admin:all")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("root") && !body.contains("admin:all"),
        "{body}"
    );
}

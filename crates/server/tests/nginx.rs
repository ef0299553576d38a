//! Real nginx in front of an upstream, with `auth_request` asking Portcullis's `/authz`: allowed
//! requests reach the upstream with the identity headers, denials (401/403 with their RFC 6750
//! challenges) come back through nginx and never reach the upstream.
//!
//! Needs the `nginx` binary (`/usr/sbin/nginx` or on `PATH`); without it the test says
//! `SKIPPED` and passes, unless `PORTCULLIS_REQUIRE_NGINX=1` (set by `.ci/run`) makes it fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde_json::json;
use support::bypass::{raw_exchange, raw_request, send_every_variant};
use support::{EchoUpstream, IdpServer, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISSUER: &str = "https://login.example.com";
const REQUIRE_NGINX: &str = "PORTCULLIS_REQUIRE_NGINX";

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_nginx() -> Option<PathBuf> {
    let debian = Path::new("/usr/sbin/nginx");
    if is_executable(debian) {
        return Some(debian.to_owned());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("nginx"))
        .find(|path| is_executable(path))
}

/// The nginx binary; `None` (after saying so past the test harness's output capture) when it
/// is missing and not required.
fn nginx_or_skip() -> Option<PathBuf> {
    if let Some(binary) = find_nginx() {
        return Some(binary);
    }
    assert!(
        std::env::var(REQUIRE_NGINX).as_deref() != Ok("1"),
        "nginx not installed (no /usr/sbin/nginx, none on PATH) and {REQUIRE_NGINX}=1: \
         install the nginx package"
    );
    portcullis_testkit::skip::whole(
        "nginx not installed (install the nginx package; .ci/run does)",
    );
    None
}

/// nginx's configuration: everything (pid, logs, temp files) under `dir`, one process in the
/// foreground, `auth_request` in front of the upstream. `/__ready` answers a marker so startup
/// can be told apart from another program that took the port first.
fn config(dir: &Path, port: u16, portcullis: &str, upstream: u16) -> String {
    let server = format!(
        r#"    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        location = /__ready {{ return 200 "nginx-ready-{port}"; }}

        location / {{
            auth_request /_authz;
            auth_request_set $auth_subject $upstream_http_x_auth_subject;
            auth_request_set $auth_client_id $upstream_http_x_auth_client_id;
            auth_request_set $auth_scopes $upstream_http_x_auth_scopes;
            auth_request_set $auth_tenant $upstream_http_x_tenant;
            # nginx copies WWW-Authenticate to the client by itself for a 401, not for a 403.
            auth_request_set $auth_www $upstream_http_www_authenticate;
            error_page 403 = @forbidden;

            # Set even when empty: an empty value drops a client-sent header of that name.
            proxy_set_header X-Auth-Subject $auth_subject;
            proxy_set_header X-Auth-Client-Id $auth_client_id;
            proxy_set_header X-Auth-Scopes $auth_scopes;
            proxy_set_header X-Tenant $auth_tenant;
            proxy_pass http://127.0.0.1:{upstream};
        }}

        location = /_authz {{
            internal;
            proxy_pass http://{portcullis}/authz;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-Host $host;
            proxy_set_header Authorization $http_authorization;
        }}

        location @forbidden {{
            add_header WWW-Authenticate $auth_www always;
            return 403;
        }}
    }}
"#
    );
    in_http_block(dir, &server)
}

/// The nginx recipe of docs/proxies.md, unchanged but for the addresses, wrapped in what a test
/// instance needs (its own pid, logs and temp files; a readiness marker).
fn recipe_config(dir: &Path, port: u16, portcullis: &str, upstream: u16) -> String {
    let docs = include_str!("../../../docs/proxies.md");
    let start = docs
        .find("```nginx\n")
        .expect("docs/proxies.md has an nginx block")
        + 9;
    let end = start + docs[start..].find("```").expect("the nginx block ends");
    let server = docs[start..end]
        .replace(
            "listen 80;",
            &format!(
                "listen 127.0.0.1:{port};\n    server_name localhost;\n    location = /__ready {{ return 200 \"nginx-ready-{port}\"; }}"
            ),
        )
        .replace("127.0.0.1:8080", portcullis)
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{upstream}"));
    in_http_block(dir, &server)
}

/// A server block inside what a test instance needs: its own pid, logs and temp files, one
/// process in the foreground.
fn in_http_block(dir: &Path, server: &str) -> String {
    let dir = dir.display();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type text/plain;
{server}
}}
"#
    )
}

/// nginx as a child process with its own temp folder; killed when dropped (also on a panic,
/// when its error log is printed).
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(binary: &Path, portcullis: &str, upstream: u16) -> Nginx {
        Self::start_with(binary, portcullis, upstream, config).await
    }

    /// nginx with the docs/proxies.md recipe.
    async fn start_recipe(binary: &Path, portcullis: &str, upstream: u16) -> Nginx {
        Self::start_with(binary, portcullis, upstream, recipe_config).await
    }

    async fn start_with(
        binary: &Path,
        portcullis: &str,
        upstream: u16,
        make_config: fn(&Path, u16, &str, u16) -> String,
    ) -> Nginx {
        let mut failures = Vec::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = support::free_port();
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, make_config(dir.path(), port, portcullis, upstream)).unwrap();
            let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
            let child = Command::new(binary)
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut nginx = Nginx { child, port, dir };
            match nginx.wait_ready().await {
                Ok(()) => return nginx,
                // Lost the race for the port: try another (dropping `nginx` kills it).
                Err(logs) if logs.contains("Address already in use") => failures.push(logs),
                Err(logs) => panic!("nginx did not start:\n{logs}"),
            }
        }
        panic!("nginx found no free port:\n{}", failures.join("\n---\n"));
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let marker = format!("nginx-ready-{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("nginx exited ({status})\n{}", self.logs()));
            }
            if self
                .answer("/__ready")
                .await
                .is_some_and(|a| a.contains(&marker))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx not answering on 127.0.0.1:{} after 20 s\n{}",
                    self.port,
                    self.logs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One raw HTTP/1.0 exchange (readiness probe: no client, no proxy settings involved).
    async fn answer(&self, path: &str) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .ok()?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned())
    }

    fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "--- nginx stderr\n{}\n--- nginx error.log\n{}",
            read("stderr.log").unwrap_or_default(),
            read("error.log").unwrap_or_default()
        )
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A request to nginx, as a client of the protected service sends it.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(reqwest::Method::GET, path, headers, None).await
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(std::io::stderr(), "{}", self.logs());
        }
    }
}

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
                          "forwardClaims": {"X-Auth-Subject": "sub", "X-Auth-Client-Id": "$client_id",
                                            "X-Auth-Scopes": "$scopes", "X-Tenant": "tenant"}}}),
        json!({"name": "orders-write", "match": {"pathPrefix": "/orders", "methods": ["DELETE"]},
               "policy": {"scopes": {"allOf": ["orders:write"]}}}),
        json!({"name": "health", "match": {"exactPath": "/health"}, "policy": {"credentials": ["none"]}}),
        json!({"name": "docs", "match": {"pathPrefix": "/docs"}, "policy": {"credentials": ["none"]}}),
    ];
    for route in routes {
        let (status, body) = admin.post("/api/v1/routes", route).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    (server, idp, key)
}

fn claims(scope: &str, iat: i64, exp: i64) -> serde_json::Value {
    json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci", "scope": scope,
           "tenant": "acme", "iat": iat, "exp": exp})
}

/// What the client got back through nginx.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// The one `WWW-Authenticate` challenge (never two: nginx copies it for a 401 by itself).
    fn challenge(&self) -> &str {
        let challenges: Vec<_> = self.headers.get_all(WWW_AUTHENTICATE).iter().collect();
        assert!(challenges.len() <= 1, "{challenges:?}");
        challenges.first().map_or("", |v| v.to_str().unwrap())
    }

    /// The upstream's echo: its request line, and the headers it received by lower-case name.
    fn echoed(&self) -> (&str, HashMap<&str, &str>) {
        let mut lines = self.body.lines();
        let request_line = lines.next().unwrap_or_default();
        let headers = lines.filter_map(|l| l.split_once(": ")).collect();
        (request_line, headers)
    }
}

#[tokio::test]
async fn nginx_auth_request_allows_and_denies_through_portcullis() {
    let Some(binary) = nginx_or_skip() else {
        return;
    };
    let (server, _idp, key) = setup().await;
    let upstream = EchoUpstream::start().await;
    let portcullis = server.base.strip_prefix("http://").unwrap();
    let nginx = Nginx::start(&binary, portcullis, upstream.port).await;
    let bearer = |token: String| format!("Bearer {token}");

    // Allowed: the upstream answers and saw the identity headers, and a client's own
    // X-Auth-Subject was replaced, not passed along.
    let reader = bearer(key.sign(&claims("orders:read", now(), now() + 300)));
    let answer = nginx
        .get(
            "/orders/42?x=1",
            &[
                ("authorization", reader.as_str()),
                ("x-auth-subject", "root"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (request_line, seen) = answer.echoed();
    assert!(
        request_line.starts_with("GET /orders/42?x=1 "),
        "{request_line}"
    );
    assert_eq!(
        seen.get("x-auth-subject"),
        Some(&"svc-ci"),
        "{}",
        answer.body
    );
    assert_eq!(seen.get("x-auth-client-id"), Some(&"ci"));
    assert_eq!(seen.get("x-auth-scopes"), Some(&"orders:read"));
    assert_eq!(seen.get("x-tenant"), Some(&"acme"));
    assert_eq!(upstream.hits(), 1);

    // A POST with a body: the auth subrequest goes without it, the upstream gets it.
    let answer = nginx
        .send(
            reqwest::Method::POST,
            "/orders",
            &[("authorization", reader.as_str())],
            Some(r#"{"qty":1}"#),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (request_line, seen) = answer.echoed();
    assert!(request_line.starts_with("POST /orders "), "{request_line}");
    assert_eq!(seen.get("content-length"), Some(&"9"));
    assert_eq!(seen.get("x-auth-subject"), Some(&"svc-ci"));
    assert_eq!(upstream.hits(), 2);

    // A public route: allowed without credentials, and no identity reaches the upstream even
    // when the client sends one.
    let answer = nginx.get("/health", &[("x-auth-subject", "root")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        answer.echoed().1.get("x-auth-subject"),
        None,
        "{}",
        answer.body
    );
    assert_eq!(upstream.hits(), 3);

    // No token: 401 with the bare challenge.
    let answer = nginx.get("/orders/42", &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // nginx passes Portcullis's challenge on, RFC 9728 pointer included (to PORTCULLIS_PUBLIC_URL).
    assert_eq!(
        answer.challenge(),
        format!(
            "Bearer realm=\"portcullis\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            server.base
        )
    );

    // A valid token without the scope: 403 naming the scope.
    let weak = bearer(key.sign(&claims("profile", now(), now() + 300)));
    let answer = nginx
        .get("/orders/42", &[("authorization", weak.as_str())])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(
        answer.challenge().contains("error=\"insufficient_scope\"")
            && answer.challenge().contains("scope=\"orders:read\""),
        "{:?}",
        answer.headers
    );

    // The original method reaches Portcullis: DELETE needs orders:write.
    let answer = nginx
        .send(
            reqwest::Method::DELETE,
            "/orders/42",
            &[("authorization", reader.as_str())],
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // No route for the path: 403.
    let answer = nginx
        .get("/admin", &[("authorization", reader.as_str())])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // Expired, forged (same kid, another key) and malformed tokens: 401 invalid_token.
    let expired = bearer(key.sign(&claims("orders:read", now() - 7200, now() - 3600)));
    let forged =
        bearer(TestKey::ec("ec-1", "ES256").sign(&claims("orders:read", now(), now() + 300)));
    for (name, token) in [
        ("expired", expired.as_str()),
        ("forged", forged.as_str()),
        ("alg none", "Bearer eyJhbGciOiJub25lIn0.e30."),
    ] {
        let answer = nginx.get("/orders/42", &[("authorization", token)]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            answer
                .challenge()
                .starts_with("Bearer realm=\"portcullis\"")
                && answer.challenge().contains("error=\"invalid_token\""),
            "{name}: {:?}",
            answer.headers
        );
    }

    // Not one denied request reached the upstream.
    assert_eq!(upstream.hits(), 3);
}

/// Issue 10 through real nginx with the recipe above unchanged: no path variant sent without a
/// token makes the upstream receive anything a lenient reader resolves under `/orders`; a client's
/// own `X-Forwarded-*`/`X-Original-*` copies, identity headers and method overrides change nothing.
#[tokio::test]
async fn nginx_path_variants_and_spoofed_headers_never_reach_a_protected_prefix() {
    let Some(binary) = nginx_or_skip() else {
        return;
    };
    let (server, _idp, key) = setup().await;
    let upstream = EchoUpstream::start().await;
    let portcullis = server.base.strip_prefix("http://").unwrap();
    let nginx = Nginx::start_recipe(&binary, portcullis, upstream.port).await;
    let addr = format!("127.0.0.1:{}", nginx.port);
    send_every_variant(&addr, "localhost", &upstream).await;

    // The client's own copies of the other family: refused or ignored, never decided on.
    let before = upstream.hits();
    for spoof in [
        vec![
            ("X-Forwarded-Uri", "/docs/x"),
            ("X-Forwarded-Method", "GET"),
        ],
        vec![("X-Original-URI", "/docs/x"), ("X-Original-Method", "GET")],
        vec![
            ("X-Forwarded-Uri", "/docs/x"),
            ("X-Forwarded-Method", "GET"),
            ("X-Forwarded-Host", "localhost"),
        ],
        vec![("X_Original_URI", "/docs/x")],
    ] {
        let status = raw_request(&addr, "GET", "/orders/1", "localhost", &spoof).await;
        assert_ne!(status, 200, "{spoof:?}");
    }
    assert_eq!(
        upstream.hits(),
        before,
        "a spoofed request reached the upstream"
    );

    // A method override that differs from the wire method is refused at /authz.
    let token = key.sign(&claims("orders:read", now(), now() + 300));
    let bearer = format!("Bearer {token}");
    let status = raw_request(
        &addr,
        "POST",
        "/orders/1",
        "localhost",
        &[
            ("Authorization", &bearer),
            ("X-HTTP-Method-Override", "DELETE"),
            ("Content-Length", "0"),
        ],
    )
    .await;
    assert_ne!(
        status, 200,
        "X-HTTP-Method-Override: DELETE on a POST-only grant"
    );
    assert_eq!(upstream.hits(), before);

    // Client-sent identity headers on an allowed request (public route: empty identity) are
    // overwritten by nginx with Portcullis's answer.
    let (status, body) = raw_exchange(
        &addr,
        "GET",
        "/docs/page",
        "localhost",
        &[
            ("X-Auth-Subject", "root"),
            ("X-Auth-Scopes", "admin:all"),
            ("X-Auth-Issuer", "other"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("root") && !body.contains("admin:all") && !body.contains("other"),
        "{body}"
    );
    // And on an authenticated request they carry the verified values.
    let (status, body) = raw_exchange(
        &addr,
        "GET",
        "/orders/1",
        "localhost",
        &[("Authorization", &bearer), ("X-Auth-Subject", "root")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("x-auth-subject: svc-ci") && !body.contains("root"),
        "{body}"
    );
}

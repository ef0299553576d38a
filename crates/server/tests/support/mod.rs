//! Test harness: a real Portcullis server on an ephemeral 127.0.0.1 port over a real store
//! (SQLite in a temp dir, or a fresh PostgreSQL database), a real JWKS server on 127.0.0.1, and
//! an HTTP client that keeps cookies and the CSRF token like the portal does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod bypass;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;

use portcullis_keys::fetch::{FetchPolicy, Fetcher};
use portcullis_server::{AppState, Settings};
use portcullis_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

/// The secret key every test server uses (fixed, so a restarted server opens what it sealed).
pub fn test_secret_key() -> Arc<portcullis_server::secrets::SecretKey> {
    Arc::new(portcullis_server::secrets::SecretKey::from_bytes(&[0x42; 32]).unwrap())
}

/// Which backends to run: SQLite always, PostgreSQL when `PORTCULLIS_TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<&'static str> {
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => vec!["sqlite", "postgres"],
        _ => {
            portcullis_testkit::skip::part(
                "PostgreSQL half of the API suite (set PORTCULLIS_TEST_DATABASE_URL to run it)",
            );
            vec!["sqlite"]
        }
    }
}

pub struct TestServer {
    pub base: String,
    pub store: Store,
    pub org: i64,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

async fn open_store(backend: &str, dir: &tempfile::TempDir) -> Store {
    match backend {
        "sqlite" => Store::open(&format!("sqlite://{}/portcullis.db", dir.path().display()))
            .await
            .unwrap(),
        _ => {
            use sqlx_free::create_database;
            let admin_url = std::env::var("PORTCULLIS_TEST_DATABASE_URL").unwrap();
            let url = create_database(&admin_url).await;
            Store::open(&url).await.unwrap()
        }
    }
}

/// Creating a PostgreSQL database without depending on sqlx directly: through `psql`-free SQL
/// over the store's own connection is not possible before the database exists, so use a tiny
/// raw connection via the store crate's test helper.
mod sqlx_free {
    pub async fn create_database(admin_url: &str) -> String {
        let name = format!(
            "portcullis_api_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        portcullis_store::testing::create_postgres_database(admin_url, &name)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        format!("{base}/{name}")
    }
}

/// A store on a fresh PostgreSQL database, with the database's name and the admin URL (for
/// fault tests that take the database away), or `None` when PostgreSQL is not configured.
pub async fn postgres_store() -> Option<(Store, String, String)> {
    let admin_url = std::env::var("PORTCULLIS_TEST_DATABASE_URL").ok()?;
    let url = sqlx_free::create_database(&admin_url).await;
    let name = url.rsplit_once('/').map(|(_, n)| n.to_owned()).unwrap();
    Some((Store::open(&url).await.unwrap(), name, admin_url))
}

/// Two nodes sharing one fresh PostgreSQL database (a cluster), or `None` (said loudly) when
/// PostgreSQL is not configured.
#[allow(dead_code)]
pub async fn two_postgres_nodes() -> Option<(TestServer, TestServer)> {
    let Some((store, name, admin_url)) = postgres_store().await else {
        portcullis_testkit::skip::whole("two nodes need PostgreSQL (PORTCULLIS_TEST_DATABASE_URL)");
        return None;
    };
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let a = TestServer::start_configured(store, tempfile::tempdir().unwrap(), |_| {}).await;
    let other = Store::open(&url).await.unwrap();
    let b = TestServer::start_configured(other, tempfile::tempdir().unwrap(), |_| {}).await;
    Some((a, b))
}

impl TestServer {
    pub async fn start(backend: &str) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(backend, &dir).await;
        Self::start_with(store, dir).await
    }

    /// A server on a fresh SQLite store with settings changed by `configure`.
    pub async fn start_sqlite_configured(configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store("sqlite", &dir).await;
        Self::start_configured(store, dir, configure).await
    }

    pub async fn start_with(store: Store, dir: tempfile::TempDir) -> TestServer {
        Self::start_configured(store, dir, |_| {}).await
    }

    /// A server on `backend` whose settings `configure` adjusts (short timeouts, limits).
    pub async fn start_with_settings(
        backend: &str,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(backend, &dir).await;
        Self::start_configured(store, dir, configure).await
    }

    /// Like [`TestServer::start_with`], with deployment settings changed by `configure` (short
    /// timeouts and the like).
    pub async fn start_configured(
        store: Store,
        dir: tempfile::TempDir,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let org = store.ensure_org(Some(272_378)).await.unwrap().id;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut settings = Settings::new(&base);
        settings.allow_insecure_jwks = true;
        settings.secret_key = Some(test_secret_key());
        // Tests make bursts of API calls: rate limits apply only where a test opts in (the
        // product's default is on).
        settings.rate_limits = false;
        configure(&mut settings);
        let fetcher = Fetcher::new(FetchPolicy {
            allow_insecure: true,
            ..FetchPolicy::default()
        })
        .unwrap();
        let (state, key_changes) = AppState::new(store.clone(), org, settings, fetcher);
        portcullis_server::api::session::bootstrap_admin(&state, Some(ADMIN_PASSWORD))
            .await
            .unwrap();
        portcullis_server::runtime::rebuild(&state).await.unwrap();
        portcullis_server::runtime::spawn(state.clone(), key_changes);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            portcullis_server::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            base,
            store,
            org,
            _dir: dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops the server (graceful) and returns the store's folder for a restart.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self._dir, dir)
    }

    /// The folder holding this server's SQLite database (empty for PostgreSQL).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The `/metrics` text.
    #[allow(dead_code)] // not every test file reads metrics
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    pub async fn admin(&self) -> Client {
        let client = self.client();
        let (status, body) = client.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        client
    }
}

/// An API client with a cookie jar and the CSRF token of its session.
pub struct Client {
    base: String,
    http: reqwest::Client,
    csrf: Mutex<Option<String>>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .no_proxy()
            .build()
            .unwrap();
        Client {
            base: base.to_owned(),
            http,
            csrf: Mutex::new(None),
        }
    }

    pub async fn login(&self, login: &str, password: &str) -> (StatusCode, Value) {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                Some(serde_json::json!({"login": login, "password": password})),
            )
            .await;
        if status == StatusCode::OK {
            *self.csrf.lock().unwrap() = body["csrfToken"].as_str().map(str::to_owned);
        }
        (status, body)
    }

    /// Sends JSON (with the CSRF header when signed in) and returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(csrf) = self.csrf.lock().unwrap().clone() {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// A request with a bearer token (no cookies, no CSRF), returning status, headers and body.
    pub async fn bearer(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }
    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }
    pub fn base(&self) -> &str {
        &self.base
    }
    pub fn csrf(&self) -> String {
        self.csrf.lock().unwrap().clone().unwrap_or_default()
    }
    pub fn forget_csrf(&self) {
        *self.csrf.lock().unwrap() = None;
    }
}

/// A real JWKS (and metadata) server on 127.0.0.1 whose documents the test can change.
pub struct IdpServer {
    pub base: String,
    documents: Arc<Mutex<Vec<(String, u16, String)>>>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
}

impl IdpServer {
    pub async fn start() -> IdpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let documents: Arc<Mutex<Vec<(String, u16, String)>>> = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::clone(&documents);
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let served = Arc::clone(&served);
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let n = stream.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let found = served
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|(p, _, _)| *p == path)
                        .cloned();
                    let (status, body) = match found {
                        Some((_, status, body)) => (status, body),
                        None => (404, "{}".to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        IdpServer {
            base,
            documents,
            requests,
        }
    }

    /// How many connections (one request each) the server accepted so far.
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Serves `body` with `status` at `path`.
    pub fn serve(&self, path: &str, status: u16, body: &str) {
        let mut docs = self.documents.lock().unwrap();
        docs.retain(|(p, _, _)| p != path);
        docs.push((path.to_owned(), status, body.to_owned()));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A port on 127.0.0.1 that was free a moment ago (for programs that must be given a port, such
/// as a reverse proxy under test; they may lose a race for it, so callers retry on a bind error).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tiny HTTP upstream on 127.0.0.1 standing behind a reverse proxy under test. It answers every
/// request with 200 and a body echoing what it received: the request line, then one
/// `name: value` line per header (names lower-cased), so a test sees what the proxy forwarded.
/// It counts the requests it served (a denied request must never reach it). Stops when dropped.
pub struct EchoUpstream {
    pub port: u16,
    hits: Arc<std::sync::atomic::AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl EchoUpstream {
    pub async fn start() -> EchoUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let targets = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&targets);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = Arc::clone(&counter);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let Some(head) = read_request_head(&mut stream).await else {
                        return;
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let target = head
                        .split("\r\n")
                        .next()
                        .and_then(|line| line.split(' ').nth(1))
                        .unwrap_or_default()
                        .to_owned();
                    log.lock().unwrap().push(target);
                    let mut lines = head.split("\r\n");
                    let mut body = format!("{}\n", lines.next().unwrap_or_default());
                    for line in lines.filter(|l| !l.is_empty()) {
                        if let Some((name, value)) = line.split_once(':') {
                            body.push_str(&format!(
                                "{}: {}\n",
                                name.trim().to_ascii_lowercase(),
                                value.trim()
                            ));
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        EchoUpstream {
            port,
            hits,
            targets,
            task,
        }
    }

    /// The raw request targets received so far, in order, exactly as on the wire.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }

    /// How many requests reached the upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads a request's head (up to the blank line, 64 KiB at most) and drains a `Content-Length`
/// body, so closing the connection never resets it under the proxy.
async fn read_request_head(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length: usize = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    let mut remaining = length.saturating_sub(buf.len() - end - 4);
    while remaining > 0 {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        remaining = remaining.saturating_sub(n);
    }
    Some(head)
}

impl TestServer {
    /// A second [`AppState`] over this server's store and org with the same deployment settings
    /// (insecure loopback JWKS allowed), as another node or a restart would have: for code that
    /// runs outside a request, such as the declarative configuration applied at start-up.
    pub fn state(&self) -> AppState {
        app_state(&self.store, self.org, &self.base)
    }
}

/// An [`AppState`] as `portcullis serve` builds it before serving (insecure loopback JWKS
/// allowed, as in every test here), e.g. to apply a config file before [`TestServer::start_with`].
pub fn app_state(store: &Store, org: i64, base: &str) -> AppState {
    let mut settings = Settings::new(base);
    settings.allow_insecure_jwks = true;
    settings.secret_key = Some(test_secret_key());
    settings.rate_limits = false;
    let fetcher = Fetcher::new(FetchPolicy {
        allow_insecure: true,
        ..FetchPolicy::default()
    })
    .unwrap();
    AppState::new(store.clone(), org, settings, fetcher).0
}

/// A loopback URL nothing listens on (an IdP that is down: connections are refused).
pub async fn unreachable_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

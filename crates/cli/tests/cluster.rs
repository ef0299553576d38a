//! Cluster mode with real processes (issue 6, DESIGN.md §4): three `portcullis serve` nodes on
//! 127.0.0.1 share one fresh PostgreSQL database. A change made through node 1 must change the
//! decisions of nodes 2 and 3 (propagation times are measured and printed); a node killed with
//! SIGKILL during writes loses nothing and catches up after its restart; with the database
//! unreachable the nodes keep deciding, writes answer 503 and everything converges afterwards;
//! a load run against two nodes during configuration changes sees no 5xx.
//!
//! Needs PostgreSQL (`PORTCULLIS_TEST_DATABASE_URL`, set by `.ci/run`); without it the test says
//! loudly that it was skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery-staple";
const ISSUER: &str = "https://login.cluster.example";
/// How long a change may take to show before the test fails. The design's target is 1 s; this
/// bound only catches a change that never arrives (the measured times are printed).
const CONVERGE_WITHIN: Duration = Duration::from_secs(10);

struct Node {
    name: &'static str,
    port: u16,
    base: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl Node {
    fn start(
        name: &'static str,
        port: u16,
        database_url: &str,
        secret_key_file: &std::path::Path,
    ) -> Node {
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .arg("serve")
            // Rate limits: on by default, off here (tests make bursts of calls; tests/governance.rs holds them).
            .env("PORTCULLIS_RATE_LIMITS", "false")
            .env("PORTCULLIS_LISTEN", format!("127.0.0.1:{port}"))
            .env("PORTCULLIS_DATABASE_URL", database_url)
            .env("PORTCULLIS_DATA_DIR", data.path())
            .env("PORTCULLIS_NODE_ID", name)
            .env("PORTCULLIS_SECRET_KEY_FILE", secret_key_file)
            .env("PORTCULLIS_ADMIN_PASSWORD", PASSWORD)
            .env("PORTCULLIS_ALLOW_INSECURE_JWKS", "true")
            .env("PORTCULLIS_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Node {
            name,
            port,
            base: format!("http://127.0.0.1:{port}"),
            child,
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(
            client().get(format!("{}/readyz", node.base)).send(),
            Ok(r) if r.status() == StatusCode::OK
        ) {
            assert!(
                Instant::now() < deadline,
                "node {name} did not become ready"
            );
            thread::sleep(Duration::from_millis(50));
        }
        node
    }

    /// SIGKILL: no graceful shutdown, as a crash or an OOM kill.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn authz(&self, token: Option<&str>, uri: &str) -> StatusCode {
        let mut request = client()
            .get(format!("{}/authz", self.base))
            .header("x-original-method", "GET")
            .header("x-original-uri", uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.send().unwrap().status()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// An admin session on one node (session cookie + CSRF token; sessions live in the shared
/// database, so the same session works on every node).
struct Admin {
    base: String,
    cookie: String,
    csrf: String,
}

impl Admin {
    fn login(base: &str) -> Admin {
        let response = client()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"login": "admin", "password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        let body: Value = response.json().unwrap();
        Admin {
            base: base.to_owned(),
            cookie,
            csrf: body["csrfToken"].as_str().unwrap().to_owned(),
        }
    }

    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = client()
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        let status = response.status();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body))
    }

    fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None)
    }

    fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None)
    }
}

/// Serves the JWKS at every path until the test ends.
fn serve_jwks(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until every node answers `want` for the request and returns how long each took,
/// counted from `since` (the moment the change was acknowledged by node 1).
fn converge(
    nodes: &[&Node],
    since: Instant,
    want: StatusCode,
    token: Option<&str>,
    uri: &str,
) -> Vec<Duration> {
    nodes
        .iter()
        .map(|node| {
            loop {
                if node.authz(token, uri) == want {
                    break since.elapsed();
                }
                assert!(
                    since.elapsed() < CONVERGE_WITHIN,
                    "node {} never answered {want} for {uri}",
                    node.name
                );
                thread::sleep(Duration::from_millis(5));
            }
        })
        .collect()
}

fn report(step: &str, times: &[Duration], nodes: &[&Node]) {
    let shown: Vec<String> = nodes
        .iter()
        .zip(times)
        .map(|(n, t)| format!("{} {:.0} ms", n.name, t.as_secs_f64() * 1000.0))
        .collect();
    println!("propagation: {step:<40} {}", shown.join(", "));
}

fn set_reachable(admin_url: &str, database: &str, reachable: bool) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(portcullis_store::testing::set_postgres_database_reachable(
            admin_url, database, reachable,
        ))
        .unwrap();
}

#[test]
fn three_nodes_converge_survive_a_crash_and_a_database_outage() {
    let Ok(admin_url) = std::env::var("PORTCULLIS_TEST_DATABASE_URL") else {
        portcullis_testkit::skip::whole(
            "cluster test (needs PostgreSQL: set PORTCULLIS_TEST_DATABASE_URL)",
        );
        return;
    };
    let database = format!(
        "portcullis_cluster_{}_{}",
        std::process::id(),
        now().unsigned_abs()
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(portcullis_store::testing::create_postgres_database(
            &admin_url, &database,
        ))
        .unwrap();
    let database_url = format!(
        "{}/{database}",
        admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b)
    );

    let key = TestKey::ec("cluster-1", "ES256");
    let jwks_url = serve_jwks(jwks(&[&key]).to_string());
    let token = key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc", "client_id": "ci",
                                 "scope": "orders:read", "iat": now(), "exp": now() + 600}),
    );
    let token = token.as_str();

    // One secret key for every node (secrets at rest must open on any of them): 32 bytes.
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("secret.key");
    std::fs::write(
        &key_file,
        (0u8..32)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let key_file = key_file.as_path();

    // Node 1 first: it creates the org and the first admin; the others find them.
    let node1 = Node::start("node-1", free_port(), &database_url, key_file);
    let mut node2 = Node::start("node-2", free_port(), &database_url, key_file);
    let node3 = Node::start("node-3", free_port(), &database_url, key_file);
    let others = [&node2, &node3];
    let admin = Admin::login(&node1.base);

    // Create: server, then route; measured from the route's acknowledgement.
    let (status, server) = admin.post(
        "/api/v1/authorizationServers",
        json!({"name": "idp", "jwksUri": jwks_url, "issuer": ISSUER, "audiences": ["orders-api"]}),
    );
    assert_eq!(status, StatusCode::CREATED, "{server}");
    let id = server["id"].as_str().unwrap().to_owned();
    let (status, body) = admin.post(
        "/api/v1/routes",
        json!({"name": "orders", "match": {"pathPrefix": "/orders"},
               "policy": {"scopes": {"allOf": ["orders:read"]}}}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let since = Instant::now();
    let times = converge(&others, since, StatusCode::OK, Some(token), "/orders/1");
    report("create server + route", &times, &others);

    let mut definition = server.clone();
    for field in ["id", "createdAt", "updatedAt", "status", "warnings"] {
        definition.as_object_mut().unwrap().remove(field);
    }
    let change = |definition: &mut Value,
                  nodes: &[&Node],
                  edit: &dyn Fn(&mut Value),
                  step: &str,
                  want: StatusCode| {
        edit(definition);
        let (status, body) = admin.put(
            &format!("/api/v1/authorizationServers/{id}"),
            definition.clone(),
        );
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
        definition["version"] = body["version"].clone();
        let since = Instant::now();
        let times = converge(nodes, since, want, Some(token), "/orders/1");
        report(step, &times, nodes);
    };
    let d = &mut definition;
    change(
        d,
        &others,
        &|d| d["audiences"] = json!(["billing-api"]),
        "edit (audience no longer matches)",
        StatusCode::UNAUTHORIZED,
    );
    change(
        d,
        &others,
        &|d| d["audiences"] = json!(["orders-api"]),
        "edit (audience matches again)",
        StatusCode::OK,
    );
    change(
        d,
        &others,
        &|d| d["enabled"] = json!(false),
        "disable",
        StatusCode::UNAUTHORIZED,
    );
    change(
        d,
        &others,
        &|d| d["enabled"] = json!(true),
        "enable",
        StatusCode::OK,
    );

    // Every node is listed with its heartbeat, applied configuration and own key status.
    let deadline = Instant::now() + CONVERGE_WITHIN;
    loop {
        let (status, nodes) = Admin::login(&node3.base).get("/api/v1/cluster/nodes");
        assert_eq!(status, StatusCode::OK, "{nodes}");
        let items = nodes["items"].as_array().unwrap();
        let ids: Vec<&str> = items.iter().filter_map(|n| n["id"].as_str()).collect();
        let all_current = items
            .iter()
            .all(|n| n["configCurrent"] == true && n["state"] == "up");
        let self_marked = items
            .iter()
            .any(|n| n["id"] == "node-3" && n["self"] == true);
        if ids == ["node-1", "node-2", "node-3"] && all_current && self_marked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node list never converged: {nodes}"
        );
        thread::sleep(Duration::from_millis(200));
    }

    // Secrets at rest work across nodes: the API key sealed by node 1 opens on node 3.
    let (status, created_key) = admin.post("/api/v1/apiKey", json!({}));
    assert_eq!(status, StatusCode::CREATED, "{created_key}");
    let (status, revealed) = Admin::login(&node3.base).post("/api/v1/apiKey/reveal", json!({}));
    assert_eq!(status, StatusCode::OK, "{revealed}");
    assert_eq!(revealed["apiKey"], created_key["apiKey"]);

    // SIGKILL node 2 in the middle of a run of writes on node 1: nothing acknowledged is lost,
    // and the restarted node 2 decides by the latest configuration.
    let mut created = Vec::new();
    for i in 0..20 {
        if i == 7 {
            node2.kill();
        }
        let (status, body) = admin.post(
            "/api/v1/routes",
            json!({"name": format!("burst-{i}"), "match": {"pathPrefix": format!("/burst-{i}")},
                   "policy": {"credentials": ["none"]}}),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        created.push(format!("burst-{i}"));
    }
    let port2 = node2.port;
    drop(node2);
    let node2 = Node::start("node-2", port2, &database_url, key_file);
    let (_, routes) = Admin::login(&node3.base).get("/api/v1/routes");
    let names: Vec<&str> = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for name in &created {
        assert!(names.contains(&name.as_str()), "{name} lost: {names:?}");
    }
    assert_eq!(node2.authz(None, "/burst-19/x"), StatusCode::OK);
    assert_eq!(node2.authz(Some(token), "/orders/1"), StatusCode::OK);

    // The database goes away: decisions continue from memory, writes answer 503, readiness
    // says degraded; afterwards every node converges on a change made through node 1.
    set_reachable(&admin_url, &database, false);
    for node in [&node1, &node2, &node3] {
        assert_eq!(
            node.authz(Some(token), "/orders/1"),
            StatusCode::OK,
            "{}",
            node.name
        );
        assert_eq!(
            node.authz(None, "/orders/1"),
            StatusCode::UNAUTHORIZED,
            "{}",
            node.name
        );
    }
    let (status, body) = admin.post(
        "/api/v1/routes",
        json!({"name": "during-outage", "match": {"pathPrefix": "/outage"}, "policy": {"credentials": ["none"]}}),
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "store_unavailable");
    let ready: Value = client()
        .get(format!("{}/readyz", node3.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    set_reachable(&admin_url, &database, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let since = loop {
        let (status, _) = admin.post(
            "/api/v1/routes",
            json!({"name": "after-outage", "match": {"pathPrefix": "/after"}, "policy": {"credentials": ["none"]}}),
        );
        if status == StatusCode::CREATED {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "writes never recovered ({status})"
        );
        thread::sleep(Duration::from_millis(200));
    };
    let all = [&node1, &node2, &node3];
    let times = converge(&all, since, StatusCode::OK, None, "/after/x");
    report("route created after the outage", &times, &all);

    // Load on nodes 2 and 3 while node 1 changes the configuration: no request fails with a 5xx
    // or a broken connection. Expected answers are 200 (token) and 403 (removed route) only.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = [node2.base.clone(), node3.base.clone()]
        .into_iter()
        .flat_map(|base| [base.clone(), base])
        .map(|base| {
            let (stop, served, failures) = (
                Arc::clone(&stop),
                Arc::clone(&served),
                Arc::clone(&failures),
            );
            let token = token.to_owned();
            thread::spawn(move || {
                let client = client();
                while !stop.load(Ordering::Relaxed) {
                    let result = client
                        .get(format!("{base}/authz"))
                        .header("x-original-method", "GET")
                        .header("x-original-uri", "/orders/1")
                        .header("authorization", format!("Bearer {token}"))
                        .send();
                    match result {
                        Ok(r) if r.status() == StatusCode::OK => {}
                        Ok(r) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{base}: {}", r.status())),
                        Err(err) => failures.lock().unwrap().push(format!("{base}: {err}")),
                    }
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for i in 0..10 {
        let (status, body) = admin.post(
            "/api/v1/routes",
            json!({"name": format!("churn-{i}"), "match": {"pathPrefix": format!("/churn-{i}")}}),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _) = admin.delete(&format!("/api/v1/routes/{}", body["id"].as_str().unwrap()));
        assert_eq!(status, StatusCode::NO_CONTENT);
        let description = format!("churn {i}");
        change(
            &mut definition,
            &[&node2, &node3],
            &|d| d["description"] = json!(description),
            "edit description under load (decision unchanged)",
            StatusCode::OK,
        );
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    println!(
        "load: {} requests to node-2 and node-3 during 30 configuration changes, {} failed",
        served.load(Ordering::Relaxed),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(served.load(Ordering::Relaxed) > 100);
}

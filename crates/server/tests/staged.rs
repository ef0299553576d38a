//! Staged configuration and activation (issue 14, part 3): with `activation: "staged"`, writes
//! to servers, routes and roles are pending (202) and invisible to `/authz`; activation applies
//! them all at once (no request sees half of it), on every node; a second admin's edit of the
//! same object is a 409; signing out activates what the admin left pending.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portcullis_testkit::{TestKey, jwks, now};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Client, IdpServer, TestServer};

const ISSUER: &str = "https://login.example.com";
const ORG: i64 = 272_378;

/// The configuration before activation: server `idp` accepts audience `aud-1`, route `orders`
/// needs scope `a`. Staged: audience `aud-2`, scope `b`. Each token is allowed by exactly one
/// configuration: whole-old, whole-new, or one of the two halves.
struct Tokens {
    /// aud-1, scope a: allowed by the old configuration only.
    old: String,
    /// aud-2, scope b: allowed by the new configuration only.
    new: String,
    /// aud-1, scope b: allowed only by the old server with the new route.
    half_route: String,
    /// aud-2, scope a: allowed only by the new server with the old route.
    half_server: String,
}

async fn set_up(admin: &Client) -> (IdpServer, Tokens, String, String) {
    let idp = IdpServer::start().await;
    let key = TestKey::ec("ec-1", "ES256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    let (status, server) = admin
        .post("/api/v1/authorizationServers", server_body(&idp, "aud-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{server}");
    let (status, route) = admin.post("/api/v1/routes", route_body("a")).await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let token = |aud: &str, scope: &str| {
        key.sign(
            &json!({"iss": ISSUER, "aud": aud, "sub": "svc", "client_id": "ci",
            "scope": scope, "iat": now(), "exp": now() + 600}),
        )
    };
    let tokens = Tokens {
        old: token("aud-1", "a"),
        new: token("aud-2", "b"),
        half_route: token("aud-1", "b"),
        half_server: token("aud-2", "a"),
    };
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    (idp, tokens, id(&server), id(&route))
}

fn server_body(idp: &IdpServer, audience: &str) -> Value {
    json!({"name": "idp", "jwksUri": idp.url("/keys"), "issuer": ISSUER, "audiences": [audience]})
}

fn route_body(scope: &str) -> Value {
    json!({"name": "orders", "match": {"pathPrefix": "/orders"},
           "policy": {"scopes": {"allOf": [scope]}}})
}

async fn allowed(http: &reqwest::Client, base: &str, token: &str) -> bool {
    http.get(format!("{base}/authz"))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == StatusCode::OK
}

/// Full rebuilds counted in `/metrics` (`portcullis_snapshot_rebuild_duration_seconds_count`).
async fn timed_rebuilds(server: &TestServer) -> u64 {
    let metrics = server.metrics().await;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("portcullis_snapshot_rebuild_duration_seconds_count "))
        .expect("the rebuild duration is exported")
        .parse()
        .unwrap()
}

async fn staged_mode(admin: &Client) {
    let (status, body) = admin
        .put("/api/v1/orgSettings", json!({"activation": "staged"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Stages the two edits through `admin`; checks they are pending and invisible.
async fn stage_both(admin: &Client, idp: &IdpServer, server_id: &str, route_id: &str) {
    let (status, pending) = admin
        .put(
            &format!("/api/v1/authorizationServers/{server_id}"),
            server_body(idp, "aud-2"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert_eq!(pending["action"], "replace");
    assert_eq!(pending["targetId"], server_id);
    assert!(
        pending["diff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"] == "/audiences" && d["after"] == json!(["aud-2"])),
        "{pending}"
    );
    let (status, pending) = admin
        .put(&format!("/api/v1/routes/{route_id}"), route_body("b"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    // The active objects are unchanged.
    let (_, server) = admin
        .get(&format!("/api/v1/authorizationServers/{server_id}"))
        .await;
    assert_eq!(server["audiences"], json!(["aud-1"]));
    let (_, route) = admin.get(&format!("/api/v1/routes/{route_id}")).await;
    assert_eq!(route["policy"]["scopes"]["allOf"], json!(["a"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_edits_are_invisible_until_one_atomic_activation() {
    for backend in support::backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, tokens, server_id, route_id) = set_up(&admin).await;
        staged_mode(&admin).await;
        stage_both(&admin, &idp, &server_id, &route_id).await;

        let http = reqwest::Client::new();
        assert!(allowed(&http, &server.base, &tokens.old).await, "{backend}");
        assert!(
            !allowed(&http, &server.base, &tokens.new).await,
            "{backend}"
        );

        let (_, status) = admin.get("/api/v1/status").await;
        assert_eq!(status["activation"], "PENDING", "{status}");
        assert_eq!(status["activationMode"], "staged");
        assert_eq!(
            status["pendingChanges"],
            json!({"total": 2, "authorizationServers": 1, "routes": 1, "apiRoles": 0, "adminRoles": 0})
        );
        // Anonymous callers see the deployment, not the org's activity.
        let (_, anonymous) = server.client().get("/api/v1/status").await;
        assert!(anonymous.get("activation").is_none(), "{anonymous}");
        let (_, list) = admin.get("/api/v1/status/pending").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");

        // Requests in flight during the activation: none may be decided by half of it.
        let stop = Arc::new(AtomicBool::new(false));
        let halves = Arc::new(AtomicUsize::new(0));
        let decided = Arc::new(AtomicUsize::new(0));
        let mut hammers = Vec::new();
        for _ in 0..4 {
            let (stop, halves, decided) = (stop.clone(), halves.clone(), decided.clone());
            let (base, http) = (server.base.clone(), http.clone());
            let probes = [tokens.half_route.clone(), tokens.half_server.clone()];
            hammers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    for probe in &probes {
                        if allowed(&http, &base, probe).await {
                            halves.fetch_add(1, Ordering::Relaxed);
                        }
                        decided.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        // Each configuration holds from the moment it is seen: the old one never comes back.
        let watcher = {
            let (stop, base, http) = (stop.clone(), server.base.clone(), http.clone());
            let (old, new) = (tokens.old.clone(), tokens.new.clone());
            tokio::spawn(async move {
                let (mut old_gone, mut new_seen) = (false, false);
                while !stop.load(Ordering::Relaxed) {
                    let old_allowed = allowed(&http, &base, &old).await;
                    assert!(
                        !(old_gone && old_allowed),
                        "the old configuration came back"
                    );
                    old_gone |= !old_allowed;
                    let new_allowed = allowed(&http, &base, &new).await;
                    assert!(!new_seen || new_allowed, "the new configuration went away");
                    new_seen |= new_allowed;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rebuilds_before = timed_rebuilds(&server).await;
        let (status, activated) = admin.post("/api/v1/status/activate", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {activated}");
        assert_eq!(activated["activated"].as_array().unwrap().len(), 2);
        assert!(activated["configVersion"].as_i64().unwrap() > 0);
        // The answer comes after this node applied it, through a timed full rebuild.
        assert!(timed_rebuilds(&server).await > rebuilds_before, "{backend}");
        assert!(allowed(&http, &server.base, &tokens.new).await, "{backend}");
        assert!(
            !allowed(&http, &server.base, &tokens.old).await,
            "{backend}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.store(true, Ordering::Relaxed);
        for hammer in hammers {
            hammer.await.unwrap();
        }
        watcher.await.unwrap();
        assert!(decided.load(Ordering::Relaxed) > 20, "too few probes");
        assert_eq!(
            halves.load(Ordering::Relaxed),
            0,
            "{backend}: requests were decided by half an activation"
        );

        let (_, status) = admin.get("/api/v1/status").await;
        assert_eq!(status["activation"], "ACTIVE", "{status}");
        let (_, audit) = admin.get("/api/v1/auditLogs?action=activate").await;
        let entries = audit["items"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{audit}");
        assert_eq!(entries[0]["after"].as_array().unwrap().len(), 2, "{audit}");
        // Nothing left: activating again applies nothing and writes nothing.
        let (status, again) = admin.post("/api/v1/status/activate", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["activated"], json!([]));
        let (_, audit) = admin.get("/api/v1/auditLogs?action=activate").await;
        assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_second_admin_is_refused_and_sign_out_activates_the_authors_changes() {
    for backend in support::backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, tokens, server_id, route_id) = set_up(&admin).await;
        let (status, body) = admin
            .post(
                "/api/v1/admins",
                json!({"login": "bob", "name": "Bob", "roleId": format!("super-admin-{ORG}"),
                       "password": "a-long-enough-password"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let bob = server.client();
        assert_eq!(
            bob.login("bob", "a-long-enough-password").await.0,
            StatusCode::OK
        );
        staged_mode(&admin).await;
        stage_both(&admin, &idp, &server_id, &route_id).await;

        // Bob may not edit what the admin staged, nor take a name the admin's changes use.
        let (status, body) = bob
            .put(&format!("/api/v1/routes/{route_id}"), route_body("c"))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("pending_conflict")),
            "{backend}: {body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("admin"),
            "{body}"
        );
        let (status, body) = bob.post("/api/v1/routes", route_body("c")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        // His own change, then the author edits theirs again (merged into one pending change).
        let mut other = route_body("c");
        other["name"] = json!("bobs");
        other["match"] = json!({"pathPrefix": "/bobs"});
        let (status, bobs) = bob.post("/api/v1/routes", other).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{bobs}");
        let (_, list) = admin.get("/api/v1/status/pending").await;
        assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");

        // A switch back to immediate with changes pending would strand them.
        let (status, body) = admin
            .put("/api/v1/orgSettings", json!({"activation": "immediate"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        // The admin signs out: their two changes go live, Bob's stays pending.
        assert_eq!(
            admin.post("/api/v1/auth/logout", json!({})).await.0,
            StatusCode::NO_CONTENT
        );
        let http = reqwest::Client::new();
        assert!(allowed(&http, &server.base, &tokens.new).await, "{backend}");
        assert!(
            !allowed(&http, &server.base, &tokens.old).await,
            "{backend}"
        );
        let (_, status) = bob.get("/api/v1/status").await;
        assert_eq!(status["pendingChanges"]["total"], 1, "{status}");
        let (_, audit) = bob.get("/api/v1/auditLogs?action=activate").await;
        let entry = &audit["items"][0];
        assert!(
            entry["detail"].as_str().unwrap().contains("sign-out"),
            "{audit}"
        );

        // Bob withdraws his; his create never existed.
        let id = bobs["id"].as_str().unwrap();
        assert_eq!(
            bob.delete(&format!("/api/v1/status/pending/{id}")).await.0,
            StatusCode::NO_CONTENT
        );
        let (_, status) = bob.get("/api/v1/status").await;
        assert_eq!(status["activation"], "ACTIVE", "{status}");
        let (_, routes) = bob.get("/api/v1/routes").await;
        assert_eq!(routes["items"].as_array().unwrap().len(), 1, "{routes}");

        // A create then a delete by the same author cancel out.
        let mut temp = route_body("z");
        temp["name"] = json!("temp");
        let (status, created) = bob.post("/api/v1/routes", temp).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        let target = created["targetId"].as_str().unwrap();
        let (status, _) = bob.delete(&format!("/api/v1/routes/{target}")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, status) = bob.get("/api/v1/status").await;
        assert_eq!(status["pendingChanges"]["total"], 0, "{status}");
    }
}

#[tokio::test]
async fn activation_reaches_the_second_node() {
    let Some((a, b)) = support::two_postgres_nodes().await else {
        return;
    };
    let admin = a.admin().await;
    let (idp, tokens, server_id, route_id) = set_up(&admin).await;
    staged_mode(&admin).await;
    let http = reqwest::Client::new();
    // Node B has the configuration before anything is staged.
    let start = Instant::now();
    while !allowed(&http, &b.base, &tokens.old).await {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B never loaded it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stage_both(&admin, &idp, &server_id, &route_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        allowed(&http, &b.base, &tokens.old).await,
        "staged edits leaked to B"
    );

    let activated = Instant::now();
    let (status, body) = admin.post("/api/v1/status/activate", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let on_a = activated.elapsed();
    // Old until it flips, new from then on (the two tokens, checked one after the other, may
    // straddle the moment B applies it).
    let on_b = loop {
        if allowed(&http, &b.base, &tokens.new).await {
            break activated.elapsed();
        }
        assert!(
            activated.elapsed() < Duration::from_secs(3),
            "B never applied it"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(!allowed(&http, &b.base, &tokens.old).await);
    assert!(!allowed(&http, &b.base, &tokens.half_route).await);
    assert!(!allowed(&http, &b.base, &tokens.half_server).await);
    eprintln!(
        "activation: applied on node A when it answered ({on_a:?}), on node B after {on_b:?}"
    );
    assert!(
        on_b < Duration::from_secs(1),
        "node B applied the activation after {on_b:?}"
    );
}

#[tokio::test]
async fn sign_out_activates_only_what_the_admin_may_still_change() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (status, role) = admin
        .post(
            "/api/v1/adminRoles",
            json!({"name": "router", "permissions": {"routes": "full"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let (status, body) = admin
        .post(
            "/api/v1/admins",
            json!({"login": "carol", "name": "Carol", "roleId": role["id"],
                   "password": "a-long-enough-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    staged_mode(&admin).await;
    let carol = server.client();
    assert_eq!(
        carol.login("carol", "a-long-enough-password").await.0,
        StatusCode::OK
    );
    let (status, staged) = carol.post("/api/v1/routes", route_body("a")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{staged}");
    // Carol may neither activate nor see what she may not change.
    let (status, body) = admin
        .put(
            &format!("/api/v1/adminRoles/{}", role["id"].as_str().unwrap()),
            json!({"name": "router", "permissions": {"routes": "view_only"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = carol.post("/api/v1/status/activate", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, list) = carol.get("/api/v1/status/pending").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let (_, status) = carol.get("/api/v1/status").await;
    assert_eq!(status["pendingChanges"]["total"], 1, "{status}");

    // The admin activates the role change alone; a stale version of it is refused first.
    let (_, list) = admin.get("/api/v1/status/pending").await;
    let role_change = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "adminRoles")
        .unwrap()
        .clone();
    let (status, body) = admin
        .post(
            "/api/v1/status/activate",
            json!({"changes": [{"id": role_change["id"], "version": 99}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = admin
        .post(
            "/api/v1/status/activate",
            json!({"changes": [{"id": role_change["id"], "version": role_change["version"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["activated"].as_array().unwrap().len(), 1, "{body}");

    // Carol, now view-only on routes, signs out: her route change does not go live.
    assert_eq!(
        carol.post("/api/v1/auth/logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, status) = admin.get("/api/v1/status").await;
    assert_eq!(status["pendingChanges"]["total"], 1, "{status}");
    let (_, routes) = admin.get("/api/v1/routes").await;
    assert_eq!(routes["items"], json!([]), "{routes}");
}

//! Declarative configuration (`portcullis serve --config FILE`): a TOML file applied to a real
//! store (SQLite, and PostgreSQL when configured), read back through the real API, with a real
//! JWKS server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use portcullis_policy::UrlRules;
use portcullis_server::declarative::{self, ApplyError, Problem};
use portcullis_store::Store;
use portcullis_testkit::{TestKey, jwks_of, now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{IdpServer, TestServer, app_state, backends, unreachable_url};

/// An IdP serving `/keys` and OIDC metadata for issuer `{base}/realm`.
async fn idp_with_keys() -> IdpServer {
    idp_and_key().await.0
}

/// The same, with the signing key.
async fn idp_and_key() -> (IdpServer, TestKey) {
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks_of(vec![key.jwk()]).to_string());
    idp.serve(
        "/realm/.well-known/openid-configuration",
        200,
        &json!({"issuer": idp.url("/realm"), "jwks_uri": idp.url("/keys")}).to_string(),
    );
    (idp, key)
}

/// The file used by most tests: two servers (one through metadata) and one role.
fn config_text(idp: &IdpServer, okta_description: &str) -> String {
    format!(
        r#"
[[authorization_servers]]
name = "okta-prod"
description = "{okta_description}"
preset = "okta"
jwks_uri = "{jwks}"
issuer = "https://acme.okta.com/oauth2/default"
audiences = ["api://portcullis"]

[[authorization_servers]]
name = "realm"
metadata_url = "{metadata}"
client_ids = ["deploy-bot"]

[[api_roles]]
name = "automation"
[api_roles.permissions]
authorization_servers = "full"
audit_logs = "view_only"
"#,
        jwks = idp.url("/keys"),
        metadata = idp.url("/realm/.well-known/openid-configuration"),
    )
}

fn write_file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn names(resources: &[declarative::Resource]) -> Vec<String> {
    resources.iter().map(ToString::to_string).collect()
}

async fn config_audit(admin: &support::Client) -> Vec<Value> {
    let (status, audit) = admin.get("/api/v1/auditLogs?actor=config").await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["items"].as_array().unwrap().clone()
}

async fn server_named(admin: &support::Client, name: &str) -> Value {
    let (_, list) = admin.get("/api/v1/authorizationServers").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no server {name} in {list}"))
}

#[tokio::test]
async fn applying_creates_servers_and_roles_visible_through_the_api_and_audited() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let idp = idp_with_keys().await;
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, &config_text(&idp, "Terraform clients"));

        let report = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap();
        assert_eq!(
            names(&report.created),
            [
                "authorization server `okta-prod`",
                "authorization server `realm`",
                "API role `automation`"
            ],
            "{backend}"
        );
        assert!(report.updated.is_empty() && report.unchanged.is_empty());
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);

        let okta = server_named(&admin, "okta-prod").await;
        assert_eq!(okta["description"], "Terraform clients");
        assert_eq!(okta["allowedAlgs"], json!(["RS256"]), "preset defaults");
        assert_eq!(okta["scopeClaims"], json!(["scp"]));
        assert_eq!(
            (okta["clockSkewS"].clone(), okta["refreshIntervalS"].clone()),
            (json!(60), json!(3600))
        );
        assert_eq!(okta["enabled"], true);
        assert_eq!(okta["status"]["keyIds"], json!(["k1"]));
        assert_eq!(okta["status"]["lastFetchError"], Value::Null);
        let realm = server_named(&admin, "realm").await;
        assert_eq!(realm["jwksUri"], idp.url("/keys"), "filled by discovery");
        assert_eq!(realm["issuer"], idp.url("/realm"));
        assert_eq!(realm["status"]["keyIds"], json!(["k1"]));

        let (_, roles) = admin.get("/api/v1/apiRoles").await;
        assert_eq!(roles["items"][0]["name"], "automation");
        assert_eq!(
            roles["items"][0]["permissions"],
            json!({"authorizationServers": "full", "apiRoles": "none", "apiCredentials": "none",
                   "routes": "none", "auditLogs": "view_only", "admins": "none"})
        );

        let audit = config_audit(&admin).await;
        assert_eq!(audit.len(), 3, "{backend}: {audit:?}");
        for entry in &audit {
            assert_eq!(
                (
                    entry["action"].as_str(),
                    entry["actor"].as_str(),
                    entry["interface"].as_str(),
                    entry["result"].as_str()
                ),
                (
                    Some("create"),
                    Some("config"),
                    Some("Config"),
                    Some("success")
                ),
                "{entry}"
            );
        }
        let resources: Vec<&str> = audit
            .iter()
            .map(|e| e["resource"].as_str().unwrap())
            .collect();
        assert_eq!(resources, ["automation", "realm", "okta-prod"]);
    }
}

/// The start-up order of `portcullis serve`: the file is applied, then the snapshot is built, so
/// the very first request already authenticates with a declared server and role.
#[tokio::test]
async fn declared_servers_and_roles_are_in_effect_from_the_first_request() {
    let (idp, key) = idp_and_key().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}/portcullis.db", dir.path().display()))
        .await
        .unwrap();
    let org = store.ensure_org(Some(272_378)).await.unwrap().id;
    let path = write_file(&dir, &config_text(&idp, "Terraform clients"));
    declarative::apply_file(&app_state(&store, org, "http://127.0.0.1"), &path)
        .await
        .unwrap();

    let server = TestServer::start_with(store, dir).await;
    let token = key.sign(&json!({"iss": "https://acme.okta.com/oauth2/default",
        "aud": "api://portcullis", "cid": "terraform", "sub": "terraform",
        "scp": [format!("portcullis.local::{org}::automation")], "iat": now(), "exp": now() + 600}));
    let (status, _, list) = server
        .client()
        .bearer(Method::GET, "/api/v1/authorizationServers", &token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn applying_the_same_file_twice_changes_nothing_and_leaves_undeclared_entries_alone() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let idp = idp_with_keys().await;
        // Made through the API, not in the file: must survive applying the file.
        let (status, manual) = admin
            .post(
                "/api/v1/authorizationServers",
                json!({"name": "manual", "jwksUri": idp.url("/keys"), "audiences": ["a"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{manual}");
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, &config_text(&idp, "Terraform clients"));
        let state = server.state();

        declarative::apply_file(&state, &path).await.unwrap();
        let before = config_audit(&admin).await.len();
        let okta_before = server_named(&admin, "okta-prod").await;

        let again = declarative::apply_file(&state, &path).await.unwrap();
        assert!(
            again.created.is_empty() && again.updated.is_empty(),
            "{backend}: {again:?}"
        );
        assert_eq!(
            names(&again.unchanged),
            [
                "authorization server `okta-prod`",
                "authorization server `realm`",
                "API role `automation`"
            ],
            "the metadata-discovered jwks_uri/issuer do not count as a difference"
        );
        assert_eq!(
            config_audit(&admin).await.len(),
            before,
            "no new audit entry"
        );
        let okta_after = server_named(&admin, "okta-prod").await;
        assert_eq!(okta_after["version"], okta_before["version"]);
        assert_eq!(okta_after["updatedAt"], okta_before["updatedAt"]);
        let manual_after = server_named(&admin, "manual").await;
        assert_eq!(
            manual_after["version"], 1,
            "undeclared entries are left alone"
        );
    }
}

#[tokio::test]
async fn changing_one_field_updates_only_that_server_with_before_and_after() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let idp = idp_with_keys().await;
        let dir = tempfile::tempdir().unwrap();
        let state = server.state();
        let path = write_file(&dir, &config_text(&idp, "Terraform clients"));
        declarative::apply_file(&state, &path).await.unwrap();
        let realm_before = server_named(&admin, "realm").await;
        let audit_before = config_audit(&admin).await.len();

        let path = write_file(&dir, &config_text(&idp, "CI jobs"));
        let report = declarative::apply_file(&state, &path).await.unwrap();
        assert_eq!(
            names(&report.updated),
            ["authorization server `okta-prod`"],
            "{backend}"
        );
        assert!(report.created.is_empty());
        assert_eq!(report.unchanged.len(), 2);

        let okta = server_named(&admin, "okta-prod").await;
        assert_eq!(
            (okta["description"].clone(), okta["version"].clone()),
            (json!("CI jobs"), json!(2))
        );
        assert_eq!(server_named(&admin, "realm").await, realm_before);

        let audit = config_audit(&admin).await;
        assert_eq!(audit.len(), audit_before + 1, "exactly one new entry");
        let entry = &audit[0];
        assert_eq!(
            (
                entry["action"].as_str(),
                entry["resource"].as_str(),
                entry["interface"].as_str()
            ),
            (Some("update"), Some("okta-prod"), Some("Config"))
        );
        assert_eq!(entry["before"]["description"], "Terraform clients");
        assert_eq!(entry["after"]["description"], "CI jobs");
    }
}

/// One invalid-file case per row: what the file says, then each (field, message part) that
/// must be reported for it. Every row is put in one file: each problem must be reported.
const BAD_ENTRIES: &[(&str, &[(&str, &str)])] = &[
    (
        r#"[[authorization_servers]]
name = "bad name"
jwks_uri = "https://idp.example.com/keys""#,
        &[("name", "no spaces")],
    ),
    (
        r#"[[authorization_servers]]
name = "typo"
jwks_url = "https://idp.example.com/keys"
clock_skew_s = "sixty""#,
        &[
            ("jwks_url", "unknown key `jwks_url`"),
            ("clock_skew_s", "expected u32"),
            ("jwks_uri", "give a JWKS URL or a metadata URL"),
        ],
    ),
    (
        r#"[[authorization_servers]]
name = "plain-http"
jwks_uri = "http://10.0.0.1/keys"
audiences = "api://x""#,
        &[
            ("jwks_uri", "only allowed to loopback"),
            ("audiences", "expected a sequence"),
        ],
    ),
    (
        r#"[[authorization_servers]]
name = "camel"
jwksUri = "https://idp.example.com/keys"
skip_validation = true"#,
        &[
            ("jwksUri", "did you mean `jwks_uri`?"),
            ("skip_validation", "unknown key `skip_validation`"),
            ("jwks_uri", "give a JWKS URL or a metadata URL"),
        ],
    ),
    (
        r#"[[api_roles]]
name = "writer"
[api_roles.permissions]
routes = "write"
audit_log = "full""#,
        &[
            ("permissions.audit_log", "unknown key `audit_log`"),
            ("permissions.routes", "unknown variant `write`"),
        ],
    ),
    (
        r#"[[api_roles]]
permissions = { routes = "full" }"#,
        &[("name", "missing field `name`")],
    ),
    (
        r#"[[routes]]
name = "no-path"
upstream = "ftp://orders.internal"
[routes.match]
pathPrefix = "/orders"
methods = ["get"]"#,
        &[
            ("match.pathPrefix", "did you mean `path_prefix`?"),
            ("match", "give a pathPrefix or an exactPath"),
            ("match.methods", "upper-case HTTP methods"),
            ("upstream", "absolute http(s) URL"),
        ],
    ),
    (
        r#"[[routes]]
name = "policy"
match = { exact_path = "/p" }
[routes.policy]
credentials = ["none", "oauth"]
keep_authorisation = true
[[routes.policy.claims]]
path = "roles"
op = "one_of"
value = "admin"
[routes.policy.forward_claims]
"X Bad" = "sub""#,
        &[
            (
                "policy.keep_authorisation",
                "unknown key `keep_authorisation`",
            ),
            ("policy.credentials", "cannot be combined"),
            ("policy.claims[0]", "`one_of` needs an array value"),
            ("policy.forward_claims", "header names are letters"),
        ],
    ),
    (
        r#"[[routes]]
name = "ops"
match = { path_prefix = "/ops" }
policy = { claims = [{ path = "tenant", op = "regex", value = "a.*" }] }"#,
        &[("policy.claims[0].op", "unknown variant `regex`")],
    ),
    (
        r#"[[routes]]
name = "unmatched""#,
        &[("match", "missing field `match`")],
    ),
];

#[tokio::test]
async fn an_invalid_file_applies_nothing_and_reports_every_problem() {
    let mut text = String::from(
        "# one valid entry first: it must not be applied either\n[[authorization_servers]]\nname = \"fine\"\njwks_uri = \"https://idp.example.com/keys\"\n\n",
    );
    for (entry, _) in BAD_ENTRIES {
        text.push_str(entry);
        text.push_str("\n\n");
    }
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, &text);

        let err = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap_err();
        let ApplyError::Invalid { file, problems } = &err else {
            panic!("{err}");
        };
        assert_eq!(file, &path.display().to_string());
        let mut expected = 0;
        for (entry, wanted) in BAD_ENTRIES {
            for (field, message) in *wanted {
                expected += 1;
                assert!(
                    problems.iter().any(|p| p.field.as_deref() == Some(*field)
                        && p.message.contains(message)
                        && p.entry.is_some()
                        && p.line.is_some()),
                    "{backend}: no problem for {field} ({message}) of\n{entry}\nin\n{err}"
                );
            }
        }
        assert_eq!(problems.len(), expected, "{err}");
        let bad_name = problems
            .iter()
            .find(|p| p.field.as_deref() == Some("name"))
            .unwrap();
        assert_eq!(
            bad_name.entry.as_deref(),
            Some("authorization_servers #2 \"bad name\"")
        );
        assert_eq!(bad_name.line, Some(7), "the line of `name = ...`");
        let shown = err.to_string();
        assert!(shown.contains("nothing was applied"), "{shown}");
        assert!(
            shown.contains(&format!(
                "{}:7: authorization_servers #2 \"bad name\": name: ",
                path.display()
            )),
            "{shown}"
        );

        let (_, servers) = admin.get("/api/v1/authorizationServers").await;
        assert_eq!(servers["items"], json!([]), "nothing applied");
        let (_, roles) = admin.get("/api/v1/apiRoles").await;
        assert_eq!(roles["items"], json!([]));
        let (_, routes) = admin.get("/api/v1/routes").await;
        assert_eq!(routes["items"], json!([]));
        assert!(config_audit(&admin).await.is_empty());
    }
}

const ISSUER: &str = "https://login.example.com";

/// A server and two routes; `scope` is what the `orders` route requires.
fn routes_text(idp: &IdpServer, scope: &str) -> String {
    format!(
        r#"
[[authorization_servers]]
name = "idp"
jwks_uri = "{jwks}"
issuer = "{ISSUER}"
audiences = ["orders-api"]

[[routes]]
name = "orders"
[routes.match]
path_prefix = "/orders"
methods = ["GET"]
[routes.policy]
servers = ["idp"]
[routes.policy.scopes]
all_of = ["{scope}"]
[[routes.policy.claims]]
path = "tenant"
op = "equals"
value = "acme"
[routes.policy.forward_claims]
X-Auth-Subject = "sub"
X-Tenant = "tenant"

[[routes]]
name = "health"
match = {{ exact_path = "/health" }}
policy = {{ credentials = ["none"] }}
"#,
        jwks = idp.url("/keys"),
    )
}

fn orders_token(key: &TestKey, scope: &str, tenant: &str) -> String {
    key.sign(
        &json!({"iss": ISSUER, "aud": "orders-api", "sub": "svc-ci", "client_id": "ci",
                     "scope": scope, "tenant": tenant, "iat": now(), "exp": now() + 300}),
    )
}

/// Asks `/authz` (nginx `auth_request` convention) about `method uri`.
async fn authz(
    server: &TestServer,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/authz", server.base))
        .header("x-original-method", method)
        .header("x-original-uri", uri);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A file applied to a running node reaches it through the configuration version (at most
/// `config_poll` later): waits until `/authz` gives `want` for the request.
async fn wait_for_decision(
    server: &TestServer,
    uri: &str,
    token: Option<&str>,
    want: StatusCode,
) -> reqwest::Response {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let response = authz(server, "GET", uri, token).await;
        if response.status() == want {
            return response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/authz for {uri} still answers {} instead of {want}",
            response.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn route_named(admin: &support::Client, name: &str) -> Value {
    let (_, list) = admin.get("/api/v1/routes").await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no route {name} in {list}"))
}

#[tokio::test]
async fn declared_routes_take_effect_on_authz_decisions() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, key) = idp_and_key().await;
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, &routes_text(&idp, "orders:read"));
        // Before: no route matches, so even a good token is denied.
        let good = orders_token(&key, "orders:read", "acme");
        assert_eq!(
            authz(&server, "GET", "/orders/1", Some(&good))
                .await
                .status(),
            StatusCode::FORBIDDEN
        );

        let report = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap();
        assert_eq!(
            names(&report.created),
            [
                "authorization server `idp`",
                "route `orders`",
                "route `health`"
            ],
            "{backend}"
        );

        let response = wait_for_decision(&server, "/orders/1", Some(&good), StatusCode::OK).await;
        assert_eq!(response.headers()["x-auth-subject"], "svc-ci");
        assert_eq!(response.headers()["x-tenant"], "acme");
        assert!(
            response.headers().get("x-auth-issuer").is_none(),
            "the declared forward_claims replace the defaults"
        );
        let weak = orders_token(&key, "profile", "acme");
        let denied = authz(&server, "GET", "/orders/1", Some(&weak)).await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN, "{backend}");
        assert!(
            denied.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("scope=\"orders:read\"")
        );
        let other_tenant = orders_token(&key, "orders:read", "globex");
        assert_eq!(
            authz(&server, "GET", "/orders/1", Some(&other_tenant))
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "claim rule"
        );
        assert_eq!(
            authz(&server, "DELETE", "/orders/1", Some(&good))
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "no route for DELETE"
        );
        // The file's writes are separate versions: the node may have seen the first route
        // before the second, so this one is waited for too.
        wait_for_decision(&server, "/health", None, StatusCode::OK).await;

        let orders = route_named(&admin, "orders").await;
        assert_eq!(
            orders["policy"]["forwardClaims"],
            json!({"X-Auth-Subject": "sub", "X-Tenant": "tenant"}),
            "header names keep their case"
        );
        assert_eq!(
            orders["match"],
            json!({"host": null, "pathPrefix": "/orders", "exactPath": null, "methods": ["GET"], "caseInsensitive": false})
        );
        let audit = config_audit(&admin).await;
        let routes: Vec<(&str, &str, &str)> = audit
            .iter()
            .filter(|e| e["category"] == "routes")
            .map(|e| {
                (
                    e["action"].as_str().unwrap(),
                    e["resource"].as_str().unwrap(),
                    e["interface"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            routes,
            [
                ("create", "health", "Config"),
                ("create", "orders", "Config")
            ],
            "{backend}: {audit:?}"
        );
    }
}

#[tokio::test]
async fn applying_the_same_routes_twice_changes_nothing() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let idp = idp_with_keys().await;
        let (status, manual) = admin
            .post(
                "/api/v1/routes",
                json!({"name": "manual", "match": {"pathPrefix": "/manual"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{manual}");
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, &routes_text(&idp, "orders:read"));
        let state = server.state();
        declarative::apply_file(&state, &path).await.unwrap();
        let audit_before = config_audit(&admin).await.len();
        let orders_before = route_named(&admin, "orders").await;

        let again = declarative::apply_file(&state, &path).await.unwrap();
        assert!(
            again.created.is_empty() && again.updated.is_empty(),
            "{backend}: {again:?}"
        );
        assert_eq!(
            names(&again.unchanged),
            [
                "authorization server `idp`",
                "route `orders`",
                "route `health`"
            ]
        );
        assert_eq!(config_audit(&admin).await.len(), audit_before);
        assert_eq!(route_named(&admin, "orders").await, orders_before);
        assert_eq!(
            route_named(&admin, "manual").await["version"],
            1,
            "undeclared routes are left alone"
        );
    }
}

#[tokio::test]
async fn changing_a_route_updates_only_that_route_with_before_and_after() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, key) = idp_and_key().await;
        let dir = tempfile::tempdir().unwrap();
        let state = server.state();
        declarative::apply_file(&state, &write_file(&dir, &routes_text(&idp, "orders:read")))
            .await
            .unwrap();
        let health_before = route_named(&admin, "health").await;
        let audit_before = config_audit(&admin).await.len();
        let reader = orders_token(&key, "orders:read", "acme");
        wait_for_decision(&server, "/orders/1", Some(&reader), StatusCode::OK).await;

        let report = declarative::apply_file(
            &state,
            &write_file(&dir, &routes_text(&idp, "orders:admin")),
        )
        .await
        .unwrap();
        assert_eq!(names(&report.updated), ["route `orders`"], "{backend}");
        assert!(report.created.is_empty());
        assert_eq!(
            names(&report.unchanged),
            ["authorization server `idp`", "route `health`"]
        );

        let orders = route_named(&admin, "orders").await;
        assert_eq!(orders["version"], 2);
        assert_eq!(orders["policy"]["scopes"]["allOf"], json!(["orders:admin"]));
        assert_eq!(route_named(&admin, "health").await, health_before);
        let audit = config_audit(&admin).await;
        assert_eq!(audit.len(), audit_before + 1, "exactly one new entry");
        let entry = &audit[0];
        assert_eq!(
            (
                entry["action"].as_str(),
                entry["category"].as_str(),
                entry["resource"].as_str(),
                entry["actor"].as_str(),
                entry["interface"].as_str()
            ),
            (
                Some("update"),
                Some("routes"),
                Some("orders"),
                Some("config"),
                Some("Config")
            )
        );
        assert_eq!(
            entry["before"]["policy"]["scopes"]["allOf"],
            json!(["orders:read"])
        );
        assert_eq!(
            entry["after"]["policy"]["scopes"]["allOf"],
            json!(["orders:admin"])
        );

        // The running node follows: the old scope is no longer enough.
        wait_for_decision(&server, "/orders/1", Some(&reader), StatusCode::FORBIDDEN).await;
        let admin_token = orders_token(&key, "orders:admin", "acme");
        assert_eq!(
            authz(&server, "GET", "/orders/1", Some(&admin_token))
                .await
                .status(),
            StatusCode::OK
        );
    }
}

/// Problems inside `[routes.match]` or `[[routes.policy.claims]]` name the line of the key
/// itself, not only the entry's.
#[test]
fn route_problems_name_the_entry_field_and_line() {
    let text = r#"[[api_roles]]
name = "automation"

[[routes]]
name = "orders"
upstream = "orders.internal"
[routes.match]
path_prefix = "/orders"
methods = ["get"]
[[routes.policy.claims]]
path = "tenant"
op = "equals"
value = "acme"
[[routes.policy.claims]]
path = "roles"
op = "regex"
"#;
    let problems =
        declarative::parse("gitops/portcullis.toml", text, UrlRules::default()).unwrap_err();
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    for (i, start) in [
        "gitops/portcullis.toml:6: routes #1 \"orders\": upstream: ",
        "gitops/portcullis.toml:9: routes #1 \"orders\": match.methods: ",
        "gitops/portcullis.toml:16: routes #1 \"orders\": policy.claims[1].op: unknown variant `regex`",
    ]
    .into_iter()
    .enumerate()
    {
        assert!(shown[i].starts_with(start), "{start}\nnot first in {shown:?}");
    }
}

#[test]
fn route_names_declared_twice_are_refused_but_may_repeat_a_server_name() {
    let text = "[[authorization_servers]]\nname = \"a\"\njwks_uri = \"https://idp.example.com/keys\"\n\n\
                [[routes]]\nname = \"a\"\nmatch = { exact_path = \"/a\" }\n\n\
                [[routes]]\nname = \"a\"\nmatch = { exact_path = \"/b\" }\n";
    let problems = declarative::parse("c.toml", text, UrlRules::default()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].line, Some(9));
    assert!(
        problems[0].message.contains("[[routes]] (first at line 5)"),
        "{problems:?}"
    );
}

/// As in the API, a route's `policy.servers` are names that are not checked against the
/// servers (an unknown name accepts no token).
#[test]
fn route_server_names_are_not_checked_as_in_the_api() {
    let text = "[[routes]]\nname = \"a\"\nmatch = { exact_path = \"/a\" }\npolicy = { servers = [\"nowhere\"] }\n";
    let config = declarative::parse("c.toml", text, UrlRules::default()).unwrap();
    assert_eq!(config.routes[0].definition.policy.servers, ["nowhere"]);
}

#[test]
fn syntax_errors_and_unknown_sections_name_the_line() {
    let cases = [
        (
            "[[authorization_servers]]\nname = \"a\"\nname = \"b\"\n",
            3,
            "duplicate key",
        ),
        (
            "[[authorization_server]]\nname = \"a\"\n",
            1,
            "unknown field `authorization_server`",
        ),
        ("[[api_roles]]\nname = \"a\n", 2, ""),
        ("[[api_roles]]\nname = 1979-05-27\n", 2, "date-time"),
    ];
    for (text, line, message) in cases {
        let problems = declarative::parse("c.toml", text, UrlRules::default()).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p: &Problem| p.line == Some(line) && p.message.contains(message)),
            "{text}: {problems:?}"
        );
    }
}

#[test]
fn names_declared_twice_are_refused() {
    let text = "[[api_roles]]\nname = \"a\"\n\n[[api_roles]]\nname = \"a\"\n";
    let problems = declarative::parse("c.toml", text, UrlRules::default()).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(4));
    assert!(
        problems[0].message.contains("first at line 1"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn an_unreachable_idp_still_saves_the_server_with_the_fetch_error() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let dir = tempfile::tempdir().unwrap();
        let jwks = unreachable_url("/keys").await;
        let path = write_file(
            &dir,
            &format!(
                "[[authorization_servers]]\nname = \"idp-down\"\njwks_uri = \"{jwks}\"\naudiences = [\"api://x\"]\n"
            ),
        );

        let report = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap();
        assert_eq!(
            names(&report.created),
            ["authorization server `idp-down`"],
            "{backend}"
        );
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(
            report.warnings[0].contains("idp-down") && report.warnings[0].contains("key check"),
            "{:?}",
            report.warnings
        );

        let saved = server_named(&admin, "idp-down").await;
        let error = saved["status"]["lastFetchError"].as_str().unwrap_or("");
        assert!(!error.is_empty(), "{saved}");
        assert_eq!(saved["status"]["keyIds"], json!([]));
        assert!(saved["status"]["lastFetchAttemptAt"].is_string());
        assert_eq!(saved["status"]["lastSuccessfulFetchAt"], Value::Null);

        // Still down at the next start: the same file changes nothing.
        let again = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap();
        assert_eq!(names(&again.unchanged), ["authorization server `idp-down`"]);
        assert_eq!(config_audit(&admin).await.len(), 1);
    }
}

#[tokio::test]
async fn org_limits_are_checked_for_the_whole_file_before_anything_is_applied() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        server.store.set_org_limits(server.org, 2, 1).await.unwrap();
        let idp = idp_with_keys().await;
        let dir = tempfile::tempdir().unwrap();
        let keys = idp.url("/keys");
        let path = write_file(
            &dir,
            &format!(
                "[[authorization_servers]]\nname = \"one\"\njwks_uri = \"{keys}\"\naudiences = [\"a\"]\n\n\
                 [[authorization_servers]]\nname = \"two\"\njwks_uri = \"{keys}\"\naudiences = [\"a\"]\n"
            ),
        );
        let err = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap_err();
        let ApplyError::Invalid { problems, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(problems.len(), 1, "{err}");
        assert_eq!(
            (problems[0].line, problems[0].field.as_deref()),
            (Some(6), Some("enabled")),
            "{err}"
        );
        let (_, servers) = admin.get("/api/v1/authorizationServers").await;
        assert_eq!(servers["items"], json!([]), "{backend}: nothing applied");

        // Declared disabled, the second one fits.
        let path = write_file(
            &dir,
            &format!(
                "[[authorization_servers]]\nname = \"one\"\njwks_uri = \"{keys}\"\naudiences = [\"a\"]\n\n\
                 [[authorization_servers]]\nname = \"two\"\nenabled = false\njwks_uri = \"{keys}\"\naudiences = [\"a\"]\n"
            ),
        );
        let report = declarative::apply_file(&server.state(), &path)
            .await
            .unwrap();
        assert_eq!(report.created.len(), 2);
    }
}

#[test]
fn the_example_file_is_valid() {
    let text = include_str!("../../../docs/portcullis.example.toml");
    let config = declarative::parse("docs/portcullis.example.toml", text, UrlRules::default())
        .unwrap_or_else(|problems| {
            panic!(
                "{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    let servers: Vec<&str> = config
        .servers
        .iter()
        .map(|s| s.definition.name.as_str())
        .collect();
    assert_eq!(servers, ["okta-prod", "entra", "keycloak-staging"]);
    let roles: Vec<&str> = config.roles.iter().map(|r| r.role.name.as_str()).collect();
    assert_eq!(roles, ["automation", "auditor"]);
    let routes: Vec<&str> = config
        .routes
        .iter()
        .map(|r| r.definition.name.as_str())
        .collect();
    assert_eq!(routes, ["orders", "health"]);
    let orders = serde_json::to_value(&config.routes[0].definition).unwrap();
    assert_eq!(
        orders["match"],
        json!({"host": "api.example.com", "pathPrefix": "/orders", "exactPath": null, "caseInsensitive": false,
               "methods": ["GET", "POST"]})
    );
    assert_eq!(orders["policy"]["scopes"]["allOf"], json!(["orders:read"]));
    assert_eq!(orders["policy"]["claims"][1]["path"], "realm_access.roles");
    assert_eq!(
        orders["policy"]["forwardClaims"]["X-Tenant"], "tenant",
        "header names keep their case"
    );
    let okta = &config.servers[0].definition;
    assert_eq!(okta.scope_claims, ["scp"], "preset defaults apply");
    assert!(
        config
            .servers
            .iter()
            .all(|s| !s.definition.accepts_any_audience())
    );
}

/// Cluster mode: several nodes on one PostgreSQL database start with the same file at once.
/// (An embedded SQLite store belongs to one node, which applies the file once before serving.)
#[tokio::test]
async fn nodes_applying_the_same_file_at_once_converge() {
    for backend in backends().into_iter().filter(|b| *b == "postgres") {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let idp = idp_with_keys().await;
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, &config_text(&idp, "Terraform clients"));
        let (node_a, node_b) = (server.state(), server.state());

        let (a, b) = tokio::join!(
            declarative::apply_file(&node_a, &path),
            declarative::apply_file(&node_b, &path)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut created = names(&a.created);
        created.extend(names(&b.created));
        created.sort();
        assert_eq!(
            created,
            [
                "API role `automation`",
                "authorization server `okta-prod`",
                "authorization server `realm`"
            ],
            "{backend}: each entry created exactly once: {a:?} {b:?}"
        );
        assert!(a.updated.is_empty() && b.updated.is_empty());
        assert_eq!(config_audit(&admin).await.len(), 3);
    }
}

/// The top-level gateway keys: read and validated with the rest of the file.
#[test]
fn gateway_settings_are_read_and_checked() {
    let text = "forward_auth = \"nginx\"\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n";
    let config = declarative::parse("c.toml", text, UrlRules::default()).unwrap();
    assert_eq!(
        config.gateway.forward_auth,
        Some(portcullis_server::trust::ForwardAuthMode::Nginx)
    );
    let proxies = config.gateway.trusted_proxies.unwrap();
    assert!(proxies.contains("10.1.2.3".parse().unwrap()));
    assert!(proxies.contains("192.0.2.1".parse().unwrap()));
    assert!(!proxies.contains("192.0.2.2".parse().unwrap()));
    assert!(
        !proxies.contains("127.0.0.1".parse().unwrap()),
        "the file's list replaces the default"
    );

    let text = "\n\nforward_auth = \"traefik\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n";
    let problems = declarative::parse("c.toml", text, UrlRules::default()).unwrap_err();
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 2, "{shown:?}");
    assert_eq!(problems[0].line, Some(3));
    assert_eq!(problems[0].field.as_deref(), Some("forward_auth"));
    assert!(
        problems[0]
            .message
            .contains("auto, nginx, forwarded or envoy"),
        "{shown:?}"
    );
    assert_eq!(problems[1].field.as_deref(), Some("trusted_proxies"));
    assert!(problems[1].message.contains("10.0.0.0/33"), "{shown:?}");
    let default = declarative::parse("c.toml", "", UrlRules::default()).unwrap();
    assert_eq!(default.gateway, declarative::GatewaySettings::default());

    // The TLS pair: both keys together, or a problem naming the one given.
    let text = "tls_cert = \"/etc/portcullis/cert.pem\"\ntls_key = \"/etc/portcullis/key.pem\"\n";
    let config = declarative::parse("c.toml", text, UrlRules::default()).unwrap();
    assert_eq!(
        config.gateway.tls,
        Some((
            "/etc/portcullis/cert.pem".into(),
            "/etc/portcullis/key.pem".into()
        ))
    );
    let problems =
        declarative::parse("c.toml", "\ntls_key = \"k.pem\"\n", UrlRules::default()).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, Some(2));
    assert_eq!(problems[0].field.as_deref(), Some("tls_key"));
}

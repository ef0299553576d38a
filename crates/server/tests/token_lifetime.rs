//! `maxTokenLifetimeS` (issue 10 §5) through every interface of the server: the API (create,
//! update, read back, field errors), the live bearer path and the sandbox trace, the declarative
//! TOML file (`max_token_lifetime_s`) and the portal's server dialog. SQLite always, PostgreSQL
//! when `PORTCULLIS_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_policy::UrlRules;
use portcullis_server::declarative;
use portcullis_testkit::{TestKey, jwks, now};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{IdpServer, TestServer, backends};

const ISSUER: &str = "https://acme.okta.com/oauth2/default";
const ORG: i64 = 272_378;
const SERVERS: &str = "/api/v1/authorizationServers";

fn body(idp: &IdpServer, name: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "preset": "okta", "jwksUri": idp.url("/keys"),
                          "issuer": ISSUER, "audiences": ["api://portcullis"]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

async fn idp_and_key() -> (IdpServer, TestKey) {
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    idp.serve("/keys", 200, &jwks(&[&key]).to_string());
    (idp, key)
}

#[tokio::test]
async fn the_api_creates_updates_and_reads_back_the_lifetime() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, _key) = idp_and_key().await;

        // Omitted: the preset's vendor maximum.
        for (name, preset, want) in [
            ("okta", "okta", 86_400),
            ("entra", "entra_v2", 100_800),
            ("generic", "generic", 86_400),
        ] {
            let mut extra = json!({"preset": preset});
            if preset != "okta" {
                extra["issuer"] = Value::Null;
            }
            let (status, created) = admin.post(SERVERS, body(&idp, name, extra)).await;
            assert_eq!(status, StatusCode::CREATED, "{backend} {name}: {created}");
            assert_eq!(created["maxTokenLifetimeS"], want, "{backend} {name}");
        }

        let (status, created) = admin
            .post(
                SERVERS,
                body(&idp, "short", json!({"maxTokenLifetimeS": 3600})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["maxTokenLifetimeS"], 3600);
        let (_, read) = admin.get(&format!("{SERVERS}/{id}")).await;
        assert_eq!(read["maxTokenLifetimeS"], 3600, "{backend}: read back");

        let mut version = read["version"].as_i64().unwrap();
        for lifetime in [0, 31_536_000, 1] {
            let mut changed = body(&idp, "short", json!({"maxTokenLifetimeS": lifetime}));
            changed["version"] = json!(version);
            let (status, updated) = admin.put(&format!("{SERVERS}/{id}"), changed).await;
            assert_eq!(status, StatusCode::OK, "{backend} {lifetime}: {updated}");
            assert_eq!(updated["maxTokenLifetimeS"], lifetime);
            let (_, read) = admin.get(&format!("{SERVERS}/{id}")).await;
            assert_eq!(read["maxTokenLifetimeS"], lifetime, "{backend}: read back");
            version = read["version"].as_i64().unwrap();
        }
        // Omitted on update: back to the preset's value (PUT replaces the definition).
        let mut changed = body(&idp, "short", json!({}));
        changed["version"] = json!(version);
        let (status, updated) = admin.put(&format!("{SERVERS}/{id}"), changed).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["maxTokenLifetimeS"], 86_400);

        // Field-level errors: out of range, wrong type, negative, fractional.
        for bad in [
            json!(31_536_001),
            json!(4_294_967_296_u64),
            json!(-1),
            json!(1.5),
            json!("3600"),
        ] {
            let (status, error) = admin
                .post(
                    SERVERS,
                    body(&idp, "bad", json!({"maxTokenLifetimeS": bad.clone()})),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend} {bad}: {error}"
            );
            assert!(
                error["fields"]["maxTokenLifetimeS"].is_string(),
                "{backend} {bad}: {error}"
            );
        }
        // The OpenAPI document describes the field with the same bounds.
        let (_, doc) = server.client().get("/api/v1/openapi.json").await;
        let schemas = &doc["components"]["schemas"];
        let request = &schemas["ServerRequest"]["properties"]["maxTokenLifetimeS"];
        assert_eq!(
            (request["minimum"].clone(), request["maximum"].clone()),
            (json!(0), json!(31_536_000)),
            "{request}"
        );
        assert!(
            schemas["ServerDefinition"]["properties"]["maxTokenLifetimeS"].is_object(),
            "{}",
            schemas["ServerDefinition"]
        );
        let (_, error) = admin
            .post(
                SERVERS,
                body(&idp, "bad", json!({"maxTokenLifetimeS": 31_536_001})),
            )
            .await;
        assert!(
            error["fields"]["maxTokenLifetimeS"]
                .as_str()
                .unwrap()
                .contains("31536000"),
            "{error}"
        );
    }
}

fn role_claims(lifetime: i64, with_iat: bool) -> Value {
    let mut claims = json!({"iss": ISSUER, "aud": "api://portcullis", "cid": "terraform",
        "sub": "terraform", "scp": [format!("portcullis.local::{ORG}::automation")],
        "iat": now(), "exp": now() + lifetime});
    if !with_iat {
        claims.as_object_mut().unwrap().remove("iat");
    }
    claims
}

/// The limit takes effect on the live bearer path and in the sandbox trace, and a change of
/// the limit takes effect on the next request.
#[tokio::test]
async fn the_limit_rejects_long_lived_tokens_live_and_in_the_sandbox() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (idp, key) = idp_and_key().await;
    let (status, created) = admin
        .post(
            SERVERS,
            body(&idp, "okta-prod", json!({"maxTokenLifetimeS": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let full = json!({"authorizationServers": "full"});
    let (status, role) = admin
        .post(
            "/api/v1/apiRoles",
            json!({"name": "automation", "permissions": full}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let client = server.client();
    let client = &client;
    let call =
        |token: String| async move { client.bearer(Method::GET, SERVERS, &token, None).await };

    let (status, _, _) = call(key.sign(&role_claims(3600, true))).await;
    assert_eq!(status, StatusCode::OK, "at the limit");
    let (status, headers, _) = call(key.sign(&role_claims(3601, true))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "one second over");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains("invalid_token") && challenge.contains("lifetime"),
        "{challenge}"
    );
    let (status, _, _) = call(key.sign(&role_claims(3600 + 60, false))).await;
    assert_eq!(status, StatusCode::OK, "no iat: within the skew");
    let (status, _, _) = call(key.sign(&role_claims(3600 + 120, false))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no iat: past the skew");
    let mut huge = role_claims(0, true);
    huge["exp"] = json!(i64::MAX);
    let (status, _, _) = call(key.sign(&huge)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "exp = 2^63-1");
    let metrics = server.metrics().await;
    for reason in ["token_lifetime_exceeded", "numeric_date_out_of_range"] {
        assert!(
            metrics.contains(&format!("reason=\"{reason}\"")),
            "{reason} counted: {metrics}"
        );
    }

    // The sandbox shows the lifetime step and the reason.
    let (status, sandbox) = admin
        .post("/api/v1/sandboxTokens", json!({"name": "dev"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sandbox}");
    let sandbox_token = sandbox["token"].as_str().unwrap().to_owned();
    let evaluate = |token: String| {
        let base = server.base.clone();
        let sandbox_token = sandbox_token.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/sandbox/v1/evaluate"))
                .bearer_auth(sandbox_token)
                .json(&json!({"token": token}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let report = evaluate(key.sign(&role_claims(7200, true))).await;
    assert_eq!(report["code"], "token_lifetime_exceeded", "{report}");
    let step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "lifetime")
        .cloned()
        .unwrap_or_else(|| panic!("no lifetime step: {report}"));
    assert_eq!(step["outcome"], "fail", "{step}");
    assert!(step["detail"].as_str().unwrap().contains("3600"), "{step}");
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("maxTokenLifetimeS"),
        "{report}"
    );
    let report = evaluate(key.sign(&huge)).await;
    assert_eq!(report["code"], "numeric_date_out_of_range", "{report}");
    let failed = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "fail")
        .cloned()
        .unwrap();
    assert_eq!(
        (failed["step"].clone(), failed["outcome"].clone()),
        (json!("expiry"), json!("fail")),
        "{report}"
    );
    let report = evaluate(key.sign(&role_claims(600, true))).await;
    let step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "lifetime")
        .cloned()
        .unwrap();
    assert_eq!(step["outcome"], "pass", "{report}");

    // 0 turns the check off, on the next request.
    let mut off = body(&idp, "okta-prod", json!({"maxTokenLifetimeS": 0}));
    off["version"] = created["version"].clone();
    let (status, updated) = admin.put(&format!("{SERVERS}/{id}"), off).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let month = key.sign(&role_claims(30 * 86_400, true));
    let (status, _, _) = call(month.clone()).await;
    assert_eq!(status, StatusCode::OK, "off: a 30-day token");
    let (status, _, _) = call(key.sign(&huge)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "off still refuses exp = 2^63-1"
    );
    let report = evaluate(key.sign(&role_claims(7200, true))).await;
    let step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "lifetime")
        .cloned()
        .unwrap();
    assert_eq!(step["outcome"], "skip", "{report}");

    // Lowering the limit again reaches a token the verified-token cache already holds.
    let mut on = body(&idp, "okta-prod", json!({"maxTokenLifetimeS": 86_400}));
    on["version"] = updated["version"].clone();
    let (status, updated) = admin.put(&format!("{SERVERS}/{id}"), on).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (status, _, _) = call(month).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the cached 30-day token is refused"
    );
}

fn toml_server(line: &str) -> String {
    format!(
        r#"[[authorization_servers]]
name = "okta-prod"
preset = "okta"
jwks_uri = "https://acme.okta.com/oauth2/default/v1/keys"
issuer = "{ISSUER}"
audiences = ["api://portcullis"]
{line}
"#
    )
}

/// The TOML key is `max_token_lifetime_s`: parsed into the same definition the API makes, with
/// field-level problems named in the file's spelling.
#[test]
fn the_config_file_sets_the_lifetime() {
    for (line, want) in [
        ("", 86_400),
        ("max_token_lifetime_s = 7200", 7200),
        ("max_token_lifetime_s = 0", 0),
        ("max_token_lifetime_s = 31536000", 31_536_000),
        ("preset = \"entra_v2\"", 0),
    ] {
        let text = toml_server(line);
        if line.starts_with("preset") {
            // A duplicate key is a TOML error, not a value: checked below with its own entry.
            assert!(declarative::parse("f.toml", &text, UrlRules::default()).is_err());
            continue;
        }
        let config = declarative::parse("f.toml", &text, UrlRules::default())
            .unwrap_or_else(|p| panic!("{line}: {p:?}"));
        assert_eq!(
            config.servers[0].definition.max_token_lifetime_s, want,
            "{line}"
        );
    }
    // The example file documents the key.
    let example = include_str!("../../../docs/portcullis.example.toml");
    assert!(example.contains("max_token_lifetime_s = 86400"));
    let config = declarative::parse("example.toml", example, UrlRules::default())
        .unwrap_or_else(|p| panic!("{p:?}"));
    for server in &config.servers {
        let d = &server.definition;
        let want = if d.name == "keycloak-staging" {
            86_400
        } else {
            d.preset.max_token_lifetime_s()
        };
        assert_eq!(d.max_token_lifetime_s, want, "{}", d.name);
    }
    let entra = r#"[[authorization_servers]]
name = "entra"
preset = "entra_v2"
jwks_uri = "https://login.microsoftonline.com/t/discovery/v2.0/keys"
client_ids = ["x"]
"#;
    let config = declarative::parse("f.toml", entra, UrlRules::default()).unwrap();
    assert_eq!(config.servers[0].definition.max_token_lifetime_s, 100_800);

    for (line, message) in [
        ("max_token_lifetime_s = 31536001", "31536000"),
        ("max_token_lifetime_s = -1", "u32"),
        ("max_token_lifetime_s = \"1d\"", "u32"),
        ("max_token_lifetime_s = 1.5", "u32"),
    ] {
        let problems =
            declarative::parse("f.toml", &toml_server(line), UrlRules::default()).expect_err(line);
        let problem = problems
            .iter()
            .find(|p| p.field.as_deref() == Some("max_token_lifetime_s"))
            .unwrap_or_else(|| panic!("{line}: {problems:?}"));
        assert!(problem.message.contains(message), "{line}: {problem:?}");
        assert_eq!(problem.line, Some(7), "{line}: {problem:?}");
    }
    let problems = declarative::parse(
        "f.toml",
        &toml_server("maxTokenLifetimeS = 60"),
        UrlRules::default(),
    )
    .unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("did you mean `max_token_lifetime_s`?")),
        "{problems:?}"
    );
}

/// The portal's server dialog has the number field, its field-error slot, and the presets'
/// values for it.
#[tokio::test]
async fn the_portal_dialog_shows_the_field() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let page = admin
        .raw()
        .get(format!("{}/portal/authorization-servers", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for needle in [
        r#"name="maxTokenLifetimeS" type="number" min="0" max="31536000" value="86400""#,
        r#"data-error-for="maxTokenLifetimeS""#,
        r#"<label for="f-maxTokenLifetimeS">"#,
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let presets = html
        .split("data-presets=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let unescaped = presets
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#x22;", "\"");
    let presets: Value =
        serde_json::from_str(&unescaped).unwrap_or_else(|e| panic!("{e}: {unescaped}"));
    for (preset, lifetime) in [
        ("okta", 86_400),
        ("entra_v1", 100_800),
        ("entra_v2", 100_800),
        ("generic", 86_400),
    ] {
        assert_eq!(
            presets[preset]["maxTokenLifetimeS"], lifetime,
            "{preset}: {presets}"
        );
    }
    let script = admin
        .raw()
        .get(format!("{}/portal/assets/servers.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    let js = script.text().await.unwrap();
    assert!(
        js.contains(r#"["clockSkewS", "maxTokenLifetimeS""#),
        "the form sends the field"
    );
    assert!(
        js.contains("f.maxTokenLifetimeS.value = s.maxTokenLifetimeS"),
        "edit fills it"
    );
}

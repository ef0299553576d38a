//! The cloud service API against a real server on 127.0.0.1, a real store (SQLite, and
//! PostgreSQL when configured) and a real JWKS server on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use portcullis_testkit::{TestKey, jwks_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, IdpServer, TestServer, backends};

async fn idp_with_keys() -> (IdpServer, TestKey) {
    let idp = IdpServer::start().await;
    let key = TestKey::rsa("k1", 2048, "RS256");
    let enc = TestKey::rsa("enc-1", 2048, "RS256");
    let jwks = jwks_of(vec![key.jwk(), enc.jwk_with("use", json!("enc"))]);
    idp.serve("/keys", 200, &jwks.to_string());
    (idp, key)
}

fn server_body(idp: &IdpServer, name: &str) -> Value {
    json!({"name": name, "description": "Terraform clients", "preset": "okta",
           "jwksUri": idp.url("/keys"), "issuer": "https://acme.okta.com/oauth2/default",
           "audiences": ["api://portcullis"]})
}

#[tokio::test]
async fn register_list_change_and_delete_a_server_with_audit() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, _key) = idp_with_keys().await;

        let (status, created) = admin
            .post(
                "/api/v1/authorizationServers",
                server_body(&idp, "okta-prod"),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {created}");
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["version"], 1);
        assert_eq!(
            created["allowedAlgs"],
            json!(["RS256"]),
            "preset defaults filled"
        );
        assert_eq!(created["status"]["keyIds"], json!(["k1"]));
        assert_eq!(created["status"]["keysSource"], "fresh");
        assert!(
            created["status"]["lastSuccessfulFetchAt"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert_eq!(created["warnings"], json!([]));

        let (status, list) = admin.get("/api/v1/authorizationServers").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["name"], "okta-prod");

        let mut changed = server_body(&idp, "okta-prod");
        changed["description"] = json!("CI jobs");
        changed["version"] = json!(1);
        let (status, updated) = admin
            .put(
                &format!("/api/v1/authorizationServers/{id}"),
                changed.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(
            (updated["version"].clone(), updated["description"].clone()),
            (json!(2), json!("CI jobs"))
        );
        // A second writer still holding version 1 loses with 409 instead of overwriting.
        let (status, conflict) = admin
            .put(&format!("/api/v1/authorizationServers/{id}"), changed)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
        assert_eq!(conflict["code"], "version_conflict");

        let mut disabled = server_body(&idp, "okta-prod");
        disabled["enabled"] = json!(false);
        let (status, _) = admin
            .put(&format!("/api/v1/authorizationServers/{id}"), disabled)
            .await;
        assert_eq!(status, StatusCode::OK);

        let (status, _) = admin
            .delete(&format!("/api/v1/authorizationServers/{id}"))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, missing) = admin
            .get(&format!("/api/v1/authorizationServers/{id}"))
            .await;
        assert_eq!(
            (status, missing["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );

        let (_, audit) = admin
            .get("/api/v1/auditLogs?category=authorizationServers")
            .await;
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["delete", "disable", "update", "create"],
            "{backend}"
        );
        let update = &audit["items"][2];
        assert_eq!(
            (update["actor"].as_str(), update["interface"].as_str()),
            (Some("admin"), Some("API"))
        );
        assert_eq!(update["before"]["description"], "Terraform clients");
        assert_eq!(update["after"]["description"], "CI jobs");
        assert_eq!(update["clientIp"], "127.0.0.1");
        server.stop().await;
    }
}

#[tokio::test]
async fn every_invalid_input_gets_a_field_level_answer_and_changes_nothing() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (idp, _key) = idp_with_keys().await;
        idp.serve(
            "/enc-only",
            200,
            &jwks_of(vec![
                TestKey::ec("e", "ES256").jwk_with("use", json!("enc")),
            ])
            .to_string(),
        );
        let path = "/api/v1/authorizationServers";
        let with = |member: &str, value: Value| {
            let mut body = server_body(&idp, "okta-prod");
            body[member] = value;
            body
        };
        let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
            (
                "space in name",
                with("name", json!("okta prod")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "name",
            ),
            (
                "name too long",
                with("name", json!("n".repeat(65))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "name",
            ),
            (
                "description too long",
                with("description", json!("d".repeat(257))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "description",
            ),
            (
                "http to a non-loopback host",
                with("jwksUri", json!("http://10.0.0.1/keys")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "jwksUri",
            ),
            (
                "not a URL",
                with("jwksUri", json!("keys.json")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "jwksUri",
            ),
            (
                "no key location",
                with("jwksUri", Value::Null),
                StatusCode::UNPROCESSABLE_ENTITY,
                "jwksUri",
            ),
            (
                "Okta org server issuer",
                with("issuer", json!("https://acme.okta.com")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "issuer",
            ),
            (
                "clock skew too large",
                with("clockSkewS", json!(301)),
                StatusCode::UNPROCESSABLE_ENTITY,
                "clockSkewS",
            ),
            (
                "clock skew wrong type",
                with("clockSkewS", json!("60")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "clockSkewS",
            ),
            (
                "unknown algorithm",
                with("allowedAlgs", json!(["HS256"])),
                StatusCode::UNPROCESSABLE_ENTITY,
                "allowedAlgs[0]",
            ),
            (
                "unknown field",
                with("jwksUrl", json!("https://x")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "jwksUrl",
            ),
            (
                "CA bundle without a certificate",
                with("caBundlePem", json!("not a certificate")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "caBundlePem",
            ),
            (
                "JWKS with no usable key",
                with("jwksUri", json!(idp.url("/enc-only"))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "jwksUri",
            ),
            (
                "JWKS not found",
                with("jwksUri", json!(idp.url("/missing"))),
                StatusCode::UNPROCESSABLE_ENTITY,
                "jwksUri",
            ),
        ];
        for (name, body, status, field) in cases {
            let (got, answer) = admin.post(path, body).await;
            assert_eq!(got, status, "{backend} {name}: {answer}");
            assert!(
                answer["fields"].get(field).is_some(),
                "{backend} {name}: no message for {field} in {answer}"
            );
            assert!(answer["message"].is_string());
        }
        // Malformed JSON and wrong content type.
        let raw = admin
            .raw()
            .post(format!("{}{path}", admin.base()))
            .header("content-type", "application/json")
            .header("x-csrf-token", admin.csrf())
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
        let raw = admin
            .raw()
            .post(format!("{}{path}", admin.base()))
            .header("content-type", "text/plain")
            .header("x-csrf-token", admin.csrf())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // Nothing was saved, and refusals left no configuration audit entries.
        assert_eq!(admin.get(path).await.1["items"], json!([]));
        let (_, audit) = admin
            .get("/api/v1/auditLogs?category=authorizationServers")
            .await;
        assert_eq!(audit["items"], json!([]));

        // skipValidation saves a server whose keys cannot be fetched, with the error recorded.
        let mut body = with("jwksUri", json!(idp.url("/missing")));
        body["skipValidation"] = json!(true);
        let (status, saved) = admin.post(path, body).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        assert!(
            saved["status"]["lastFetchError"].as_str().is_some(),
            "{saved}"
        );
        assert_eq!(saved["status"]["keysSource"], "none");
        server.stop().await;
    }
}

#[tokio::test]
async fn validate_reports_usable_and_ignored_keys_without_saving() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (idp, _key) = idp_with_keys().await;
    let (status, report) = admin
        .post(
            "/api/v1/authorizationServers/validate",
            json!({"jwksUri": idp.url("/keys")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["usableKeys"][0]["kid"], "k1");
    assert_eq!(report["usableKeys"][0]["params"], "RSA 2048");
    assert_eq!(report["ignoredKeys"][0]["kid"], "enc-1");
    assert!(
        report["ignoredKeys"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("enc")
    );
    let (_, broken) = admin
        .post(
            "/api/v1/authorizationServers/validate",
            json!({"jwksUri": idp.url("/nothing")}),
        )
        .await;
    assert_eq!(broken["ok"], false);
    assert!(broken["error"]["message"].as_str().is_some());
    assert_eq!(
        admin.get("/api/v1/authorizationServers").await.1["items"],
        json!([])
    );
}

#[tokio::test]
async fn warnings_and_org_limits() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (idp, _key) = idp_with_keys().await;
    let mut open = server_body(&idp, "any-audience");
    open.as_object_mut().unwrap().remove("audiences");
    let (status, created) = admin.post("/api/v1/authorizationServers", open).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        created["warnings"][0]
            .as_str()
            .unwrap()
            .contains("any resource")
    );
    let mut unverified = server_body(&idp, "unverified-tls");
    unverified["verifyTls"] = json!(false);
    let (status, created) = admin.post("/api/v1/authorizationServers", unverified).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["warnings"].as_array().unwrap().len(),
        1,
        "{created}"
    );
    assert!(
        created["warnings"][0]
            .as_str()
            .unwrap()
            .contains("not verified"),
        "{created}"
    );
    let (status, _) = admin
        .delete(&format!(
            "/api/v1/authorizationServers/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    server.store.set_org_limits(server.org, 2, 1).await.unwrap();
    let (status, refused) = admin
        .post("/api/v1/authorizationServers", server_body(&idp, "second"))
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::CONFLICT, Some("limit_exceeded")),
        "{refused}"
    );
    let mut disabled = server_body(&idp, "second");
    disabled["enabled"] = json!(false);
    assert_eq!(
        admin.post("/api/v1/authorizationServers", disabled).await.0,
        StatusCode::CREATED
    );
    let (status, _) = admin
        .post("/api/v1/authorizationServers", server_body(&idp, "third"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn sessions_csrf_and_lockout() {
    let server = TestServer::start("sqlite").await;
    // No credentials: 401 with a Bearer challenge and no error code.
    let anonymous = server.client();
    let response = anonymous
        .raw()
        .get(format!("{}/api/v1/authorizationServers", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // RFC 6750 §3 (no error code) with RFC 9728 §5.1's pointer to the resource metadata.
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            "Bearer realm=\"portcullis\", resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            server.base
        )
        .as_str()
    );

    let admin = server.admin().await;
    admin.forget_csrf();
    let (status, refused) = admin
        .post("/api/v1/apiRoles", json!({"name": "automation"}))
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed"))
    );

    let attacker = server.client();
    for _ in 0..5 {
        assert_eq!(
            attacker.login("admin", "wrong-password").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, locked) = attacker.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        (status, locked["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("locked")),
        "{locked}"
    );
    assert_eq!(
        server.client().login("nobody", "whatever-password").await.0,
        StatusCode::UNAUTHORIZED
    );

    // The existing session is unaffected; the audit shows every failure.
    let (_, audit) = admin
        .get("/api/v1/auditLogs?action=sign_in&result=failure")
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 7, "{audit}");
    let (status, _) = admin
        .call(reqwest::Method::POST, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "logout is a change: it needs the CSRF token too"
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (status, _) = admin
        .call(reqwest::Method::POST, "/api/v1/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        admin.get("/api/v1/authorizationServers").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, audit) = server
        .admin()
        .await
        .get("/api/v1/auditLogs?action=sign_out")
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn permissions_are_checked_per_category() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (status, role) = admin
        .post("/api/v1/adminRoles", json!({"name": "auditor", "permissions": {"authorizationServers": "view_only", "auditLogs": "view_only"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let (status, created) = admin
        .post("/api/v1/admins", json!({"login": "carol", "name": "Carol", "roleId": role["id"], "password": "a-long-enough-password"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        created.get("passwordHash").is_none(),
        "the hash never leaves the server"
    );

    let carol = server.client();
    assert_eq!(
        carol.login("carol", "a-long-enough-password").await.0,
        StatusCode::OK
    );
    assert_eq!(
        carol.get("/api/v1/authorizationServers").await.0,
        StatusCode::OK
    );
    assert_eq!(carol.get("/api/v1/auditLogs").await.0, StatusCode::OK);
    let (status, denied) = carol
        .post("/api/v1/authorizationServers", json!({"name": "x"}))
        .await;
    assert_eq!(
        (status, denied["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(carol.get("/api/v1/apiRoles").await.0, StatusCode::FORBIDDEN);
    assert_eq!(carol.get("/api/v1/admins").await.0, StatusCode::FORBIDDEN);

    let (status, short) = admin
        .post(
            "/api/v1/admins",
            json!({"login": "dave", "roleId": role["id"], "password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short["fields"]["password"].is_string());
    // The audit log redacts passwords.
    let (_, audit) = admin
        .get("/api/v1/auditLogs?category=admins&action=create&resource=carol")
        .await;
    assert_eq!(audit["items"][0]["after"]["password"], "(redacted)");
    assert!(!audit.to_string().contains("a-long-enough-password"));
}

#[tokio::test]
async fn api_roles_crud() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let body = json!({"name": "automation", "permissions": {"authorizationServers": "full", "apiRoles": "view_only",
        "apiCredentials": "none", "routes": "full", "auditLogs": "view_only", "admins": "none"}});
    let (status, role) = admin.post("/api/v1/apiRoles", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    assert_eq!(role["permissions"]["apiRoles"], "view_only");
    assert_eq!(
        admin.post("/api/v1/apiRoles", body).await.0,
        StatusCode::CONFLICT
    );
    let (status, bad) = admin
        .post(
            "/api/v1/apiRoles",
            json!({"name": "x", "permissions": {"routes": "write"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["fields"]["permissions.routes"].is_string(), "{bad}");
    let id = role["id"].as_str().unwrap();
    let (status, renamed) = admin
        .put(
            &format!("/api/v1/apiRoles/{id}"),
            json!({"name": "ci", "version": 1}),
        )
        .await;
    assert_eq!(
        (status, renamed["name"].as_str()),
        (StatusCode::OK, Some("ci"))
    );
    assert_eq!(
        admin.delete(&format!("/api/v1/apiRoles/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.get(&format!("/api/v1/apiRoles/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn audit_csv_export_is_safe_for_spreadsheets() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    admin
        .post("/api/v1/apiRoles", json!({"name": "automation"}))
        .await;
    let response = admin
        .raw()
        .get(format!("{}/api/v1/auditLogs.csv", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("time,action,category,resource,actor"),
        "{text}"
    );
    assert!(
        text.contains(",create,apiRoles,automation,admin,"),
        "{text}"
    );
    let (status, bad) = admin.get("/api/v1/auditLogs?from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["fields"]["from"].is_string());
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let server = TestServer::start("sqlite").await;
    let admin = server.admin().await;
    let (idp, _key) = idp_with_keys().await;
    let (status, created) = admin
        .post(
            "/api/v1/authorizationServers",
            server_body(&idp, "persisted"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    admin
        .post("/api/v1/apiRoles", json!({"name": "automation"}))
        .await;
    let dir = server.stop().await;

    let store =
        portcullis_store::Store::open(&format!("sqlite://{}/portcullis.db", dir.path().display()))
            .await
            .unwrap();
    let restarted = TestServer::start_with(store, dir).await;
    let admin = restarted.admin().await;
    let (status, list) = admin.get("/api/v1/authorizationServers").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], created["id"]);
    assert_eq!(list["items"][0]["status"]["keyIds"], json!(["k1"]));
    assert_eq!(
        admin.get("/api/v1/apiRoles").await.1["items"][0]["name"],
        "automation"
    );
    let (_, audit) = admin.get("/api/v1/auditLogs?action=create").await;
    assert!(audit["items"].as_array().unwrap().len() >= 3, "{audit}");
}

#[tokio::test]
async fn operations_endpoints_and_request_ids() {
    let server = TestServer::start("sqlite").await;
    let client = server.client();
    let response = client
        .raw()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(client.get("/readyz").await.0, StatusCode::OK);
    let (status, info) = client.get("/api/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["orgId"], server.org);
    assert_eq!(info["apiBaseUrl"], format!("{}/api/v1", server.base));
    assert_eq!(client.get("/api/v1/nope").await.0, StatusCode::NOT_FOUND);
}

/// Found by `scripts/api-fuzz`: a path id that cannot name a row (not UTF-8, NUL, too long,
/// odd characters) got axum's plain-text 400 or, on PostgreSQL, a 500; it is the JSON 404.
#[tokio::test]
async fn ids_that_cannot_exist_are_a_json_404() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let long = "a".repeat(65);
        for path in [
            "/api/v1/admins/%FF".to_owned(),
            "/api/v1/admins/a%00b".to_owned(),
            "/api/v1/apiRoles/a%20b".to_owned(),
            format!("/api/v1/routes/{long}"),
            "/api/v1/authorizationServers/%C3%A9/refresh".to_owned(),
        ] {
            let (status, body) = if path.ends_with("/refresh") {
                admin.post(&path, json!({})).await
            } else {
                admin.get(&path).await
            };
            assert_eq!(status, StatusCode::NOT_FOUND, "{backend} {path}: {body}");
            assert_eq!(body["code"], "not_found", "{backend} {path}: {body}");
        }
        server.stop().await;
    }
}

/// Found by `scripts/api-fuzz`: a NUL character in a string reached PostgreSQL, which refuses it
/// with an error (500). It is refused up front as a field error, on both backends alike.
#[tokio::test]
async fn nul_characters_are_field_errors() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let (status, body) = server
            .client()
            .post(
                "/api/v1/auth/login",
                json!({"login": "ad\u{0}min", "password": "x"}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{backend}: {body}"
        );
        assert!(body["fields"]["login"].is_string(), "{backend}: {body}");

        let admin = server.admin().await;
        let (status, body) = admin
            .post(
                "/api/v1/routes",
                json!({"name": "r", "match": {"pathPrefix": "/x"},
                       "policy": {"servers": ["ok", "bad\u{0}"]}}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{backend}: {body}"
        );
        assert!(
            body["fields"]["policy.servers[1]"].is_string(),
            "{backend}: {body}"
        );
        // A member name with a NUL is named too; an escaped backslash before `u0000` is no NUL.
        let (status, body) = admin
            .post(
                "/api/v1/routes",
                json!({"name": "r2", "match": {"pathPrefix": "/x"},
                       "policy": {"forwardClaims": {"X-A\u{0}": "sub"}}}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{backend}: {body}"
        );
        assert!(
            body["fields"]["policy.forwardClaims.X-A\u{0}"].is_string(),
            "{backend}: {body}"
        );
        let (status, body) = admin
            .post(
                "/api/v1/routes",
                json!({"name": "r3", "match": {"pathPrefix": "/x"},
                       "policy": {"claims": [{"path": "a", "op": "equals", "value": "\\u0000"}]}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");

        let (status, body) = admin.get("/api/v1/auditLogs?action=a%00b").await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{backend}: {body}"
        );
        assert!(body["fields"]["action"].is_string(), "{backend}: {body}");
        server.stop().await;
    }
}

/// Found by `scripts/api-fuzz`: replacing an admin with a `roleId` that names no admin role was a
/// 500 (foreign key); an API role's id was even accepted and locked that admin out. Both are a
/// 422 on `roleId` now, on create and replace.
#[tokio::test]
async fn an_admins_role_must_be_an_admin_role_of_the_org() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = server.admin().await;
        let (_, roles) = admin.get("/api/v1/adminRoles").await;
        let super_admin = roles["items"][0]["id"].as_str().unwrap().to_owned();
        let (status, api_role) = admin
            .post("/api/v1/apiRoles", json!({"name": "automation"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {api_role}");
        let (status, carol) = admin
            .post(
                "/api/v1/admins",
                json!({"login": "carol", "roleId": super_admin, "password": "a-long-enough-password"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {carol}");
        let carol_path = format!("/api/v1/admins/{}", carol["id"].as_str().unwrap());
        for role_id in [json!("no-such-role"), api_role["id"].clone()] {
            let (status, body) = admin
                .put(&carol_path, json!({"login": "carol", "roleId": role_id}))
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend}: {body}"
            );
            assert!(body["fields"]["roleId"].is_string(), "{backend}: {body}");
            let (status, body) = admin
                .post(
                    "/api/v1/admins",
                    json!({"login": "dave", "roleId": role_id, "password": "a-long-enough-password"}),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{backend}: {body}"
            );
            assert!(body["fields"]["roleId"].is_string(), "{backend}: {body}");
        }
        let (_, unchanged) = admin.get(&carol_path).await;
        assert_eq!(unchanged["roleId"], super_admin.as_str(), "{backend}");
        assert_eq!(unchanged["version"], 1, "{backend}: nothing was written");
        server.stop().await;
    }
}

/// Found by `scripts/api-fuzz` with several workers: concurrent changes on SQLite failed with
/// "database is locked" (a transaction that read first could not take the write lock later).
/// Write transactions now start with `BEGIN IMMEDIATE` and queue instead.
#[tokio::test]
async fn concurrent_changes_all_succeed() {
    for backend in backends() {
        let server = TestServer::start(backend).await;
        let admin = std::sync::Arc::new(server.admin().await);
        let mut tasks = tokio::task::JoinSet::new();
        // API roles (at most 16 per org) and routes, all at once.
        for i in 0..30 {
            let admin = std::sync::Arc::clone(&admin);
            tasks.spawn(async move {
                if i % 2 == 0 {
                    admin
                        .post("/api/v1/apiRoles", json!({"name": format!("role-{i}")}))
                        .await
                } else {
                    admin
                        .post(
                            "/api/v1/routes",
                            json!({"name": format!("route-{i}"), "match": {"pathPrefix": format!("/r{i}")}}),
                        )
                        .await
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (status, body) = done.unwrap();
            assert_eq!(status, StatusCode::CREATED, "{backend}: {body}");
        }
        let (_, roles) = admin.get("/api/v1/apiRoles").await;
        assert_eq!(roles["items"].as_array().unwrap().len(), 15, "{backend}");
        let (_, routes) = admin.get("/api/v1/routes").await;
        assert_eq!(routes["items"].as_array().unwrap().len(), 15, "{backend}");
        server.stop().await;
    }
}

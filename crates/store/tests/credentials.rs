//! The credential tables (API key, legacy sessions, sandbox tokens) on every backend: embedded
//! SQLite always, PostgreSQL when `PORTCULLIS_TEST_DATABASE_URL` names a server (a fresh database
//! per run). Lifecycle with audit, conflicts, limits, cascades and org isolation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_store::{
    Actor, ApiKeyChange, AuditFilter, Conflict, Interface, NewAdmin, RoleKind, Store, StoreError,
};

async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/portcullis.db", dir.path().display());
    let mut out = vec![("sqlite", Store::open(&url).await.unwrap(), Some(dir))];
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!(
                "portcullis_creds_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            portcullis_store::testing::create_postgres_database(&admin_url, &name)
                .await
                .unwrap();
            let base = admin_url
                .rsplit_once('/')
                .map_or(admin_url.as_str(), |(base, _)| base);
            let store = Store::open(&format!("{base}/{name}")).await.unwrap();
            out.push(("postgres", store, None));
        }
        _ => portcullis_testkit::skip::part(
            "PostgreSQL half of the credential store suite (set PORTCULLIS_TEST_DATABASE_URL to run it)",
        ),
    }
    out
}

fn actor(name: &str) -> Actor {
    Actor {
        name: name.into(),
        client_ip: Some("127.0.0.1".into()),
        interface: Interface::Api,
    }
}

async fn admin_in(store: &Store, org: i64, login: &str) -> String {
    let role = store
        .list_roles(org, RoleKind::Admin)
        .await
        .unwrap()
        .remove(0);
    store
        .create_admin(
            org,
            &NewAdmin {
                login: login.into(),
                name: String::new(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                role_id: role.id,
            },
            &actor("setup"),
        )
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn api_key_lifecycle_ends_legacy_sessions_and_redacts_audit() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(300)).await.unwrap().id;
        let admin = admin_in(&store, org, "alice").await;
        assert_eq!(store.get_api_key(org).await.unwrap(), None, "{backend}");
        assert!(matches!(
            store
                .replace_api_key(org, 1, "v1.k.x", ApiKeyChange::Update, &actor("alice"))
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.delete_api_key(org, &actor("alice")).await,
            Err(StoreError::NotFound)
        ));

        let created = store
            .create_api_key(org, "v1.k.first", &actor("alice"))
            .await
            .unwrap();
        assert_eq!(
            (
                created.sealed.as_str(),
                created.version,
                created.last_modified_by.as_str()
            ),
            ("v1.k.first", 1, "alice"),
            "{backend}"
        );
        assert!(matches!(
            store.create_api_key(org, "v1.k.again", &actor("bob")).await,
            Err(StoreError::Conflict(Conflict::Exists(_)))
        ));

        // A replace ends every legacy session of the org, in the same transaction.
        store
            .create_legacy_session("h1", org, &admin)
            .await
            .unwrap();
        store
            .create_legacy_session("h2", org, &admin)
            .await
            .unwrap();
        let replaced = store
            .replace_api_key(
                org,
                1,
                "v1.k.second",
                ApiKeyChange::Regenerate,
                &actor("bob"),
            )
            .await
            .unwrap();
        assert_eq!(
            (replaced.version, replaced.last_modified_by.as_str()),
            (2, "bob")
        );
        for hash in ["h1", "h2"] {
            assert_eq!(
                store.touch_legacy_session(org, hash, 60_000).await.unwrap(),
                None,
                "{backend}: {hash} survived the key change"
            );
        }
        // Compare-and-swap: a writer based on version 1 loses.
        assert!(matches!(
            store
                .replace_api_key(org, 1, "v1.k.stale", ApiKeyChange::Update, &actor("carol"))
                .await,
            Err(StoreError::Conflict(Conflict::StaleVersion { current: 2 }))
        ));

        store
            .create_legacy_session("h3", org, &admin)
            .await
            .unwrap();
        store.delete_api_key(org, &actor("alice")).await.unwrap();
        assert_eq!(store.get_api_key(org).await.unwrap(), None);
        assert_eq!(
            store.touch_legacy_session(org, "h3", 60_000).await.unwrap(),
            None
        );

        let audit = store
            .query_audit(
                org,
                &AuditFilter {
                    category: Some("apiCredentials".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["delete", "regenerate", "create"], "{backend}");
        assert_eq!(
            audit[1].detail.as_deref(),
            Some("ended 2 API key session(s) opened with the old key")
        );
        let text = serde_json::to_string(&audit).unwrap();
        assert!(
            !text.contains("v1.k."),
            "{backend}: a sealed key reached the audit log: {text}"
        );
        assert!(text.contains("(redacted)"));
    }
}

#[tokio::test]
async fn legacy_sessions_expire_cascade_and_stay_in_their_org() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(301)).await.unwrap().id;
        let other = store.ensure_org(Some(302)).await.unwrap().id;
        let admin = admin_in(&store, org, "alice").await;
        admin_in(&store, org, "bob").await;
        store
            .create_legacy_session("s1", org, &admin)
            .await
            .unwrap();
        let touched = store
            .touch_legacy_session(org, "s1", 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (touched.org_id, touched.admin_id.as_str()),
            (org, admin.as_str())
        );
        assert_eq!(
            store
                .touch_legacy_session(other, "s1", 60_000)
                .await
                .unwrap(),
            None,
            "{backend}: another org's session"
        );
        assert!(!store.delete_legacy_session(other, "s1").await.unwrap());

        // Idle expiry deletes the session.
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert_eq!(
            store.touch_legacy_session(org, "s1", 10).await.unwrap(),
            None
        );
        assert_eq!(
            store.touch_legacy_session(org, "s1", 60_000).await.unwrap(),
            None,
            "{backend}: an idle-expired session came back"
        );

        // Deleting the admin ends their sessions.
        store
            .create_legacy_session("s2", org, &admin)
            .await
            .unwrap();
        store
            .delete_admin(org, &admin, &actor("bob"))
            .await
            .unwrap();
        assert_eq!(
            store.touch_legacy_session(org, "s2", 60_000).await.unwrap(),
            None,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn sandbox_tokens_limits_conflicts_and_isolation() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(303)).await.unwrap().id;
        let other = store.ensure_org(Some(304)).await.unwrap().id;
        let mut ids = Vec::new();
        for i in 0..5 {
            let record = store
                .create_sandbox_token(
                    org,
                    &format!("t{i}"),
                    &format!("hash{i}"),
                    "abcd",
                    5,
                    &actor("alice"),
                )
                .await
                .unwrap();
            ids.push(record.id);
        }
        assert!(
            matches!(
                store
                    .create_sandbox_token(org, "t5", "hash5", "abcd", 5, &actor("alice"))
                    .await,
                Err(StoreError::LimitExceeded(_))
            ),
            "{backend}: a sixth token"
        );
        // The limit and names are per org.
        store
            .create_sandbox_token(other, "t0", "other-hash", "wxyz", 5, &actor("zed"))
            .await
            .unwrap();
        store
            .delete_sandbox_token(org, &ids[4], &actor("alice"))
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_sandbox_token(org, "t0", "hash9", "abcd", 5, &actor("alice"))
                .await,
            Err(StoreError::Conflict(Conflict::Duplicate {
                field: "name",
                ..
            }))
        ));

        // Rename with compare-and-swap; regenerate replaces the hash.
        let renamed = store
            .rename_sandbox_token(org, &ids[0], Some(1), "ci", &actor("bob"))
            .await
            .unwrap();
        assert_eq!((renamed.name.as_str(), renamed.version), ("ci", 2));
        assert!(matches!(
            store
                .rename_sandbox_token(org, &ids[0], Some(1), "cd", &actor("bob"))
                .await,
            Err(StoreError::Conflict(Conflict::StaleVersion { current: 2 }))
        ));
        assert!(matches!(
            store
                .rename_sandbox_token(org, &ids[0], None, "t1", &actor("bob"))
                .await,
            Err(StoreError::Conflict(Conflict::Duplicate { .. }))
        ));
        let regenerated = store
            .regenerate_sandbox_token(org, &ids[0], "new-hash", "wxyz", &actor("bob"))
            .await
            .unwrap();
        assert_eq!(
            (regenerated.hint.as_str(), regenerated.version),
            ("wxyz", 3)
        );
        assert_eq!(store.find_sandbox_token(org, "hash0").await.unwrap(), None);
        assert_eq!(
            store
                .find_sandbox_token(org, "new-hash")
                .await
                .unwrap()
                .map(|t| t.id),
            Some(ids[0].clone())
        );

        // Another org neither finds, reads, renames nor deletes this org's tokens.
        assert_eq!(
            store.find_sandbox_token(other, "new-hash").await.unwrap(),
            None
        );
        assert!(matches!(
            store.get_sandbox_token(other, &ids[0]).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .rename_sandbox_token(other, &ids[0], None, "x", &actor("zed"))
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .regenerate_sandbox_token(other, &ids[0], "h", "h", &actor("zed"))
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .delete_sandbox_token(other, &ids[0], &actor("zed"))
                .await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(store.list_sandbox_tokens(other).await.unwrap().len(), 1);
        assert_eq!(store.list_sandbox_tokens(org).await.unwrap().len(), 4);

        let audit = store
            .query_audit(
                org,
                &AuditFilter {
                    category: Some("apiCredentials".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "regenerate",
                "update",
                "delete",
                "create",
                "create",
                "create",
                "create",
                "create"
            ],
            "{backend}"
        );
        let text = serde_json::to_string(&audit).unwrap();
        assert!(
            !text.contains("hash"),
            "{backend}: a token hash in the audit log"
        );
        assert_eq!(
            store
                .query_audit(other, &AuditFilter::default())
                .await
                .unwrap()
                .len(),
            1,
            "{backend}: the other org sees only its own entry"
        );
    }
}

#[tokio::test]
async fn concurrent_creations_cannot_pass_the_sandbox_limit_together() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(305)).await.unwrap().id;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .create_sandbox_token(
                        org,
                        &format!("c{i}"),
                        &format!("c-hash{i}"),
                        "abcd",
                        5,
                        &actor("alice"),
                    )
                    .await
            }));
        }
        for task in tasks {
            // Losers get LimitExceeded; none may slip past.
            let _ = task.await.unwrap();
        }
        assert_eq!(
            store.list_sandbox_tokens(org).await.unwrap().len(),
            5,
            "{backend}: creations must queue on the org row, not fail or pass the limit"
        );
    }
}

#[tokio::test]
async fn concurrent_creations_cannot_pass_the_role_limit_together() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(306)).await.unwrap().id;
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let input = portcullis_policy::permissions::RoleInput {
                    name: format!("r{i}"),
                    permissions: Default::default(),
                };
                store
                    .create_role(org, RoleKind::Api, &input, 3, &actor("alice"))
                    .await
            }));
        }
        for task in tasks {
            let _ = task.await.unwrap();
        }
        assert_eq!(
            store.list_roles(org, RoleKind::Api).await.unwrap().len(),
            3,
            "{backend}: creations must queue on the org row, not pass the limit together"
        );
    }
}

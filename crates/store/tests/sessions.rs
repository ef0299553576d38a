//! Sessions and the lockout in the store, on every backend (SQLite always, PostgreSQL when
//! `PORTCULLIS_TEST_DATABASE_URL` is set; without it the PostgreSQL half says it was skipped):
//! a password or role change and a delete end the admin's portal and legacy sessions in the same
//! transaction and record a session change; the absolute lifetime; the atomic attempt counter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use portcullis_store::{Actor, Interface, NewAdmin, RoleKind, Store};

async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/portcullis.db", dir.path().display());
    let mut out = vec![("sqlite", Store::open(&url).await.unwrap(), Some(dir))];
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!(
                "portcullis_sessions_{}_{}",
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
                .map_or(admin_url.as_str(), |(b, _)| b);
            out.push((
                "postgres",
                Store::open(&format!("{base}/{name}")).await.unwrap(),
                None,
            ));
        }
        _ => portcullis_testkit::skip::part(
            "PostgreSQL half of the session store suite (set PORTCULLIS_TEST_DATABASE_URL to run it)",
        ),
    }
    out
}

fn actor() -> Actor {
    Actor {
        name: "admin".into(),
        client_ip: None,
        interface: Interface::Api,
    }
}

async fn setup(store: &Store) -> (i64, String, String) {
    let org = store.ensure_org(Some(7)).await.unwrap().id;
    let super_admin = store
        .list_roles(org, RoleKind::Admin)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.builtin)
        .unwrap();
    for login in ["root", "alice"] {
        store
            .create_admin(
                org,
                &NewAdmin {
                    login: login.into(),
                    name: login.into(),
                    password_hash: "$argon2id$x".into(),
                    role_id: super_admin.id.clone(),
                },
                &actor(),
            )
            .await
            .unwrap();
    }
    let alice = store
        .find_admin_by_login(org, "alice")
        .await
        .unwrap()
        .unwrap();
    (org, alice.id, super_admin.id)
}

async fn live(store: &Store, org: i64, portal: &str, legacy: &str) -> (bool, bool) {
    (
        store.touch_session(portal, 60_000).await.unwrap().is_some(),
        store
            .touch_legacy_session(org, legacy, 60_000)
            .await
            .unwrap()
            .is_some(),
    )
}

#[tokio::test]
async fn password_role_change_and_delete_end_sessions_in_the_same_write() {
    for (backend, store, _dir) in stores().await {
        let (org, alice, super_admin) = setup(&store).await;
        let root = store
            .find_admin_by_login(org, "root")
            .await
            .unwrap()
            .unwrap();
        let open = |n: u32| {
            let store = store.clone();
            let alice = alice.clone();
            async move {
                store
                    .create_session(&format!("p{n}"), org, &alice, "csrf")
                    .await
                    .unwrap();
                store
                    .create_legacy_session(&format!("l{n}"), org, &alice)
                    .await
                    .unwrap();
            }
        };
        store
            .create_session("root-p", org, &root.id, "csrf")
            .await
            .unwrap();
        let seq0 = store.latest_session_change().await.unwrap();

        // A rename keeps the sessions but records a change (cached logins must be re-read).
        open(1).await;
        let current = store.get_admin(org, &alice).await.unwrap();
        let renamed = NewAdmin {
            login: "alice2".into(),
            name: "Alice".into(),
            password_hash: String::new(),
            role_id: current.role_id.clone(),
        };
        store
            .update_admin(org, &alice, None, &renamed, &actor())
            .await
            .unwrap();
        assert_eq!(
            live(&store, org, "p1", "l1").await,
            (true, true),
            "{backend}"
        );
        let changes = store.session_changes_since(seq0, 100).await.unwrap();
        assert_eq!(changes.len(), 1, "{backend}");
        assert_eq!(changes[0].admin_id.as_deref(), Some(alice.as_str()));
        let seq1 = changes[0].seq;

        // A password change ends them.
        let new_password = NewAdmin {
            password_hash: "$argon2id$y".into(),
            ..renamed.clone()
        };
        store
            .update_admin(org, &alice, None, &new_password, &actor())
            .await
            .unwrap();
        assert_eq!(
            live(&store, org, "p1", "l1").await,
            (false, false),
            "{backend}"
        );
        assert!(
            store
                .touch_session("root-p", 60_000)
                .await
                .unwrap()
                .is_some(),
            "{backend}: another admin's session is untouched"
        );
        let changes = store.session_changes_since(seq1, 100).await.unwrap();
        assert_eq!(changes.len(), 1, "{backend}");
        assert!(changes[0].seq > seq1);
        assert_eq!(store.latest_session_change().await.unwrap(), changes[0].seq);

        // A role change ends them.
        open(2).await;
        let custom = store
            .create_role(
                org,
                RoleKind::Admin,
                &serde_json::from_value(serde_json::json!({"name": "viewer", "permissions": {
                    "authorizationServers": "view_only", "apiRoles": "none", "apiCredentials": "none",
                    "routes": "none", "auditLogs": "none", "admins": "none"}}))
                .unwrap(),
                16,
                &actor(),
            )
            .await
            .unwrap();
        let new_role = NewAdmin {
            role_id: custom.id.clone(),
            ..renamed.clone()
        };
        store
            .update_admin(org, &alice, None, &new_role, &actor())
            .await
            .unwrap();
        assert_eq!(
            live(&store, org, "p2", "l2").await,
            (false, false),
            "{backend}"
        );

        // The same role and no password: nothing ends.
        open(3).await;
        store
            .update_admin(org, &alice, None, &new_role, &actor())
            .await
            .unwrap();
        assert_eq!(
            live(&store, org, "p3", "l3").await,
            (true, true),
            "{backend}"
        );

        // A delete ends them.
        store.delete_admin(org, &alice, &actor()).await.unwrap();
        assert_eq!(
            live(&store, org, "p3", "l3").await,
            (false, false),
            "{backend}"
        );
        let _ = super_admin;
    }
}

#[tokio::test]
async fn absolute_lifetime_refuses_an_active_session() {
    for (backend, store, _dir) in stores().await {
        let (org, alice, _) = setup(&store).await;
        store.create_session("p", org, &alice, "c").await.unwrap();
        store.create_legacy_session("l", org, &alice).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        // Used a moment ago, so not idle; but older than a 10 ms lifetime.
        assert!(
            store
                .touch_session_within("p", 60_000, 60_000)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .touch_session_within("p", 60_000, 10)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        assert!(
            store.touch_session("p", 60_000).await.unwrap().is_none(),
            "{backend}: deleted"
        );
        assert!(
            store
                .touch_legacy_session_within(org, "l", 60_000, 10)
                .await
                .unwrap()
                .is_none(),
            "{backend}"
        );
        assert!(
            store
                .touch_legacy_session(org, "l", 60_000)
                .await
                .unwrap()
                .is_none(),
            "{backend}: deleted"
        );
    }
}

#[tokio::test]
async fn parallel_attempts_never_pass_the_limit() {
    for (backend, store, _dir) in stores().await {
        let (org, alice, _) = setup(&store).await;
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let store = Arc::clone(&store);
            let alice = alice.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .claim_login_attempt(org, &alice, 5, 60_000)
                    .await
                    .unwrap()
            }));
        }
        let mut claimed = Vec::new();
        for task in tasks {
            if let Some(n) = task.await.unwrap() {
                claimed.push(n);
            }
        }
        claimed.sort_unstable();
        assert_eq!(claimed, vec![1, 2, 3, 4, 5], "{backend}");
        // The window is used up; the lock comes from the failed fifth attempt.
        store.lock_admin(org, &alice, 300_000).await.unwrap();
        assert!(
            store
                .claim_login_attempt(org, &alice, 5, 60_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get_admin(org, &alice)
                .await
                .unwrap()
                .locked_until
                .is_some()
        );
        // Success (or an expired lock) starts over.
        store.clear_login_failures(org, &alice).await.unwrap();
        assert_eq!(
            store
                .claim_login_attempt(org, &alice, 5, 60_000)
                .await
                .unwrap(),
            Some(1),
            "{backend}"
        );
        // A window that has passed starts over too.
        for _ in 0..4 {
            store
                .claim_login_attempt(org, &alice, 5, 60_000)
                .await
                .unwrap();
        }
        assert_eq!(
            store
                .claim_login_attempt(org, &alice, 5, 60_000)
                .await
                .unwrap(),
            None
        );
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        assert_eq!(
            store.claim_login_attempt(org, &alice, 5, 20).await.unwrap(),
            Some(1),
            "{backend}: new window"
        );
    }
}

#[tokio::test]
async fn api_key_changes_are_recorded_for_every_node() {
    for (backend, store, _dir) in stores().await {
        let (org, alice, _) = setup(&store).await;
        store
            .create_api_key(org, "sealed-1", &actor())
            .await
            .unwrap();
        store.create_legacy_session("l", org, &alice).await.unwrap();
        let seq0 = store.latest_session_change().await.unwrap();
        store.delete_api_key(org, &actor()).await.unwrap();
        let changes = store.session_changes_since(seq0, 100).await.unwrap();
        assert_eq!(changes.len(), 1, "{backend}");
        assert_eq!(changes[0].org_id, org);
        assert_eq!(changes[0].admin_id, None, "{backend}: the whole org");
    }
}

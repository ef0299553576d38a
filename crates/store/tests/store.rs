//! The store suite, run against every backend: embedded SQLite always, PostgreSQL when
//! `PORTCULLIS_TEST_DATABASE_URL` names a server (each run gets a fresh database). Without it the
//! PostgreSQL half says loudly that it was skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_policy::permissions::{Access, Permissions, RoleInput};
use portcullis_policy::{ServerDefinition, ServerInput};
use portcullis_store::{
    Actor, AuditFilter, Conflict, FetchOutcome, Interface, NewAdmin, RoleKind, SUPER_ADMIN_ROLE,
    Store, StoreError,
};
use serde_json::json;

/// Opens a fresh store per backend available.
async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/portcullis.db", dir.path().display());
    let mut out = vec![("sqlite", Store::open(&url).await.unwrap(), Some(dir))];
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            out.push(("postgres", fresh_postgres(&admin_url).await, None))
        }
        _ => portcullis_testkit::skip::part(
            "PostgreSQL half of the store suite (set PORTCULLIS_TEST_DATABASE_URL to run it)",
        ),
    }
    out
}

/// Creates a uniquely named database on the server and opens a store on it.
async fn fresh_postgres(admin_url: &str) -> Store {
    use sqlx::Executor;
    let name = format!("portcullis_test_{}", uuid_like());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin_url)
        .await
        .expect("PostgreSQL reachable");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    Store::open(&format!("{base}/{name}")).await.unwrap()
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{}", std::process::id(), nanos)
}

fn admin_actor() -> Actor {
    Actor {
        name: "admin".into(),
        client_ip: Some("127.0.0.1".into()),
        interface: Interface::Api,
    }
}

fn definition(name: &str) -> ServerDefinition {
    serde_json::from_value::<ServerInput>(json!({"name": name, "preset": "okta",
        "jwksUri": "https://acme.okta.com/oauth2/default/v1/keys", "issuer": "https://acme.okta.com/oauth2/default",
        "audiences": ["api://portcullis"]}))
    .unwrap()
    .resolve()
}

#[tokio::test]
async fn server_lifecycle_with_audit() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(272_378)).await.unwrap().id;
        let created = store
            .create_server(org, &definition("okta-prod"), None, &admin_actor())
            .await
            .unwrap();
        assert_eq!(created.version, 1, "{backend}");
        assert_eq!(store.list_servers(org).await.unwrap().len(), 1);

        let mut changed = definition("okta-prod");
        changed.description = "Terraform clients".into();
        let updated = store
            .update_server(org, &created.id, Some(1), &changed, None, &admin_actor())
            .await
            .unwrap();
        assert_eq!(
            (updated.version, updated.definition.description.as_str()),
            (2, "Terraform clients")
        );

        changed.enabled = false;
        store
            .update_server(org, &created.id, Some(2), &changed, None, &admin_actor())
            .await
            .unwrap();
        store
            .delete_server(org, &created.id, &admin_actor())
            .await
            .unwrap();
        assert!(matches!(
            store.get_server(org, &created.id).await,
            Err(StoreError::NotFound)
        ));

        let actions: Vec<String> = store
            .query_audit(
                org,
                &AuditFilter {
                    category: Some("authorizationServers".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            ["delete", "disable", "update", "create"],
            "{backend}"
        );
        let update = &store
            .query_audit(
                org,
                &AuditFilter {
                    action: Some("update".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()[0];
        assert_eq!(
            update.before.as_ref().unwrap()["description"],
            "",
            "{backend}"
        );
        assert_eq!(
            update.after.as_ref().unwrap()["description"],
            "Terraform clients"
        );
        assert_eq!(
            (update.actor.as_str(), update.interface.as_str()),
            ("admin", "API")
        );
        assert_eq!(update.client_ip.as_deref(), Some("127.0.0.1"));
    }
}

#[tokio::test]
async fn conflicts_and_limits() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(1)).await.unwrap().id;
        let first = store
            .create_server(org, &definition("a"), None, &admin_actor())
            .await
            .unwrap();
        let duplicate = store
            .create_server(org, &definition("a"), None, &admin_actor())
            .await;
        assert!(
            matches!(
                duplicate,
                Err(StoreError::Conflict(Conflict::Duplicate {
                    field: "name",
                    ..
                }))
            ),
            "{backend}: {duplicate:?}"
        );

        // Two writers start from version 1: the second loses with a conflict, not silently.
        store
            .update_server(
                org,
                &first.id,
                Some(1),
                &definition("a"),
                None,
                &admin_actor(),
            )
            .await
            .unwrap();
        let stale = store
            .update_server(
                org,
                &first.id,
                Some(1),
                &definition("a"),
                None,
                &admin_actor(),
            )
            .await;
        assert!(
            matches!(
                stale,
                Err(StoreError::Conflict(Conflict::StaleVersion { current: 2 }))
            ),
            "{backend}: {stale:?}"
        );

        store.set_org_limits(org, 2, 1).await.unwrap();
        let second_enabled = store
            .create_server(org, &definition("b"), None, &admin_actor())
            .await;
        assert!(
            matches!(second_enabled, Err(StoreError::LimitExceeded(_))),
            "{backend}"
        );
        let mut disabled = definition("b");
        disabled.enabled = false;
        let b = store
            .create_server(org, &disabled, None, &admin_actor())
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_server(org, &definition("c"), None, &admin_actor())
                .await,
            Err(StoreError::LimitExceeded(_))
        ));
        let enable_b = store
            .update_server(org, &b.id, None, &definition("b"), None, &admin_actor())
            .await;
        assert!(
            matches!(enable_b, Err(StoreError::LimitExceeded(_))),
            "{backend}"
        );
        // Nothing half-written: still two servers, one enabled, and no audit entry for refusals.
        let servers = store.list_servers(org).await.unwrap();
        assert_eq!(servers.iter().filter(|s| s.definition.enabled).count(), 1);
        assert_eq!(servers.len(), 2);
    }
}

#[tokio::test]
async fn orgs_are_isolated() {
    for (backend, store, _dir) in stores().await {
        let a = store.ensure_org(Some(100)).await.unwrap().id;
        let b = store.ensure_org(Some(200)).await.unwrap().id;
        let server = store
            .create_server(a, &definition("shared-name"), None, &admin_actor())
            .await
            .unwrap();
        // The same name is free in another org.
        store
            .create_server(b, &definition("shared-name"), None, &admin_actor())
            .await
            .unwrap();
        assert_eq!(store.list_servers(b).await.unwrap().len(), 1);
        assert!(
            matches!(
                store.get_server(b, &server.id).await,
                Err(StoreError::NotFound)
            ),
            "{backend}"
        );
        assert!(matches!(
            store
                .update_server(b, &server.id, None, &definition("x"), None, &admin_actor())
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.delete_server(b, &server.id, &admin_actor()).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .record_fetch(b, &server.id, &FetchOutcome::Failure { error: "x".into() })
                .await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(
            store
                .get_server(a, &server.id)
                .await
                .unwrap()
                .definition
                .name,
            "shared-name"
        );
        assert!(
            store
                .query_audit(b, &AuditFilter::default())
                .await
                .unwrap()
                .iter()
                .all(|e| e.resource == "shared-name")
        );
        assert_eq!(
            store
                .query_audit(a, &AuditFilter::default())
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn fetch_status_keeps_last_good_keys_on_failure() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(7)).await.unwrap().id;
        let ok = FetchOutcome::Success {
            jwks: r#"{"keys":[]}"#.into(),
            key_ids: vec!["k1".into()],
        };
        let server = store
            .create_server(org, &definition("s"), Some(&ok), &admin_actor())
            .await
            .unwrap();
        let good_at = server
            .status
            .last_successful_fetch_at
            .expect("success recorded");
        store
            .record_fetch(
                org,
                &server.id,
                &FetchOutcome::Failure {
                    error: "connection refused".into(),
                },
            )
            .await
            .unwrap();
        let after = store.get_server(org, &server.id).await.unwrap();
        assert_eq!(
            after.status.last_successful_fetch_at,
            Some(good_at),
            "{backend}"
        );
        assert_eq!(
            after.status.last_fetch_error.as_deref(),
            Some("connection refused")
        );
        assert_eq!(after.status.key_ids, ["k1"]);
        assert_eq!(after.last_good_jwks.as_deref(), Some(r#"{"keys":[]}"#));
        store.record_fetch(org, &server.id, &ok).await.unwrap();
        assert_eq!(
            store
                .get_server(org, &server.id)
                .await
                .unwrap()
                .status
                .last_fetch_error,
            None
        );
    }
}

#[tokio::test]
async fn roles_admins_sessions_and_lockout() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(9)).await.unwrap().id;
        let admin_roles = store.list_roles(org, RoleKind::Admin).await.unwrap();
        assert_eq!(admin_roles.len(), 1, "{backend}");
        let super_admin = &admin_roles[0];
        assert!(super_admin.builtin && super_admin.name == SUPER_ADMIN_ROLE);
        assert_eq!(super_admin.permissions, Permissions::FULL);
        let renamed = RoleInput {
            name: "x".into(),
            permissions: Permissions::default(),
        };
        assert!(matches!(
            store
                .update_role(
                    org,
                    RoleKind::Admin,
                    &super_admin.id,
                    None,
                    &renamed,
                    &admin_actor()
                )
                .await,
            Err(StoreError::Conflict(_))
        ));

        let automation = RoleInput {
            name: "automation".into(),
            permissions: Permissions {
                routes: Access::Full,
                ..Default::default()
            },
        };
        let role = store
            .create_role(org, RoleKind::Api, &automation, 16, &admin_actor())
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_role(org, RoleKind::Api, &automation, 16, &admin_actor())
                .await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store
                .create_role(
                    org,
                    RoleKind::Api,
                    &RoleInput {
                        name: "second".into(),
                        ..automation.clone()
                    },
                    1,
                    &admin_actor()
                )
                .await,
            Err(StoreError::LimitExceeded(_))
        ));
        store
            .delete_role(org, RoleKind::Api, &role.id, &admin_actor())
            .await
            .unwrap();

        let new_admin = NewAdmin {
            login: "alice".into(),
            name: "Alice".into(),
            password_hash: "$argon2id$x".into(),
            role_id: super_admin.id.clone(),
        };
        let alice = store
            .create_admin(org, &new_admin, &admin_actor())
            .await
            .unwrap();
        assert!(
            matches!(
                store.delete_admin(org, &alice.id, &admin_actor()).await,
                Err(StoreError::Conflict(_))
            ),
            "last admin stays"
        );
        assert_eq!(
            store
                .find_admin_by_login(org, "alice")
                .await
                .unwrap()
                .unwrap()
                .password_hash,
            "$argon2id$x"
        );
        assert!(matches!(
            store
                .delete_role(org, RoleKind::Admin, &super_admin.id, &admin_actor())
                .await,
            Err(StoreError::Conflict(_))
        ));

        for attempt in 1..=5 {
            let locked = store
                .record_login_failure(org, &alice.id, 5, 60_000, 300_000)
                .await
                .unwrap();
            assert_eq!(locked, attempt == 5, "{backend}: attempt {attempt}");
        }
        assert!(
            store
                .get_admin(org, &alice.id)
                .await
                .unwrap()
                .locked_until
                .is_some()
        );
        store.clear_login_failures(org, &alice.id).await.unwrap();
        assert!(
            store
                .get_admin(org, &alice.id)
                .await
                .unwrap()
                .locked_until
                .is_none()
        );

        store
            .create_session("hash-1", org, &alice.id, "csrf-1")
            .await
            .unwrap();
        assert_eq!(
            store
                .touch_session("hash-1", 60_000)
                .await
                .unwrap()
                .unwrap()
                .csrf_token,
            "csrf-1"
        );
        assert!(
            store.touch_session("hash-1", -1).await.unwrap().is_none(),
            "idle-expired session is gone"
        );
        assert!(
            store
                .touch_session("hash-1", 60_000)
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn sqlite_data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/dir/portcullis.db", dir.path().display());
    let id = {
        let store = Store::open(&url).await.unwrap();
        let org = store.ensure_org(None).await.unwrap().id;
        let id = store
            .create_server(org, &definition("persisted"), None, &admin_actor())
            .await
            .unwrap()
            .id;
        store.close().await;
        id
    };
    let store = Store::open(&url).await.unwrap();
    let org = store.ensure_org(None).await.unwrap().id;
    assert_eq!(
        store.get_server(org, &id).await.unwrap().definition.name,
        "persisted"
    );
}

#[tokio::test]
async fn bad_urls_are_refused_clearly() {
    assert!(matches!(
        Store::open("mysql://x").await,
        Err(StoreError::InvalidUrl(_))
    ));
    assert!(matches!(
        Store::open("sqlite://").await,
        Err(StoreError::InvalidUrl(_))
    ));
    let unreachable = Store::open("postgres://postgres@127.0.0.1:1/none").await;
    assert!(
        matches!(unreachable, Err(StoreError::Unavailable(_))),
        "{unreachable:?}"
    );
}

#[tokio::test]
async fn fetch_history_keys_seen_and_decision_minutes() {
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(9)).await.unwrap().id;
        let ok = FetchOutcome::Success {
            jwks: r#"{"keys":[]}"#.into(),
            key_ids: vec!["k1".into()],
        };
        let server = store
            .create_server(org, &definition("s"), None, &admin_actor())
            .await
            .unwrap();
        store.record_fetch(org, &server.id, &ok).await.unwrap();
        let failed = FetchOutcome::Failure {
            error: "connection refused".into(),
        };
        store.record_fetch(org, &server.id, &failed).await.unwrap();
        let history = store.key_fetches(org, &server.id).await.unwrap();
        assert_eq!(history.len(), 2, "{backend}");
        assert!(history.iter().any(|f| f.ok && f.error.is_none()));
        assert!(
            history
                .iter()
                .any(|f| !f.ok && f.error.as_deref() == Some("connection refused"))
        );
        let seen = store.keys_seen(org, &server.id).await.unwrap();
        assert_eq!(seen.len(), 1, "{backend}");
        assert_eq!(seen[0].kid, "k1");
        assert!(seen[0].first_seen_at <= seen[0].last_seen_at);
        // Only the newest fetches are kept.
        for _ in 0..60 {
            store.record_fetch(org, &server.id, &ok).await.unwrap();
        }
        let kept = store.key_fetches(org, &server.id).await.unwrap().len();
        assert!(kept <= 52, "{backend}: {kept}");

        // Decisions per node and minute: a row is replaced, old rows of the node go.
        let reasons = std::collections::BTreeMap::from([("expired".to_owned(), 2)]);
        let servers = std::collections::BTreeMap::from([("okta".to_owned(), [6, 2])]);
        store
            .record_decision_minute(org, "node-a", 100, 5, 2, &reasons, &servers, 0)
            .await
            .unwrap();
        store
            .record_decision_minute(org, "node-a", 100, 6, 2, &reasons, &servers, 0)
            .await
            .unwrap();
        store
            .record_decision_minute(
                org,
                "node-b",
                101,
                1,
                0,
                &Default::default(),
                &Default::default(),
                0,
            )
            .await
            .unwrap();
        let rows = store.decision_minutes(org, 100).await.unwrap();
        assert_eq!(rows.len(), 2, "{backend}");
        assert_eq!((rows[0].allowed, rows[0].denied), (6, 2));
        assert_eq!(rows[0].reasons.get("expired"), Some(&2));
        assert_eq!(rows[0].servers.get("okta"), Some(&[6, 2]));
        store
            .record_decision_minute(
                org,
                "node-a",
                2000,
                1,
                0,
                &Default::default(),
                &Default::default(),
                1000,
            )
            .await
            .unwrap();
        let rows = store.decision_minutes(org, 0).await.unwrap();
        assert!(
            rows.iter()
                .all(|r| r.node_id != "node-a" || r.minute == 2000),
            "{backend}: {rows:?}"
        );
        assert!(store.decision_minutes(org + 1, 0).await.unwrap().is_empty());
    }
}

fn route(name: &str, prefix: &str) -> portcullis_policy::routes::RouteDefinition {
    serde_json::from_value(json!({"name": name, "match": {"pathPrefix": prefix}})).unwrap()
}

fn actor_named(name: &str) -> Actor {
    Actor {
        name: name.into(),
        client_ip: None,
        interface: Interface::Api,
    }
}

/// The org's settings with staged activation.
fn staged_settings() -> portcullis_policy::governance::OrgSettingsInput {
    portcullis_policy::governance::OrgSettingsInput {
        activation: portcullis_policy::governance::Activation::Staged,
        ..Default::default()
    }
}

const CAPS: portcullis_store::RoleCaps = portcullis_store::RoleCaps { api: 10, admin: 10 };

#[tokio::test]
async fn activation_applies_all_pending_changes_or_none() {
    use portcullis_store::{PendingKind, StagedObject, StagedWrite};
    let caps = CAPS;
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(272_378)).await.unwrap().id;
        let first = store
            .create_route(org, &route("first", "/a"), &admin_actor())
            .await
            .unwrap();
        let staged = staged_settings();
        // Staging is refused while the org is immediate.
        let create = StagedWrite::Create(StagedObject::Route(route("second", "/b")));
        assert!(matches!(
            store.stage(org, &create, &admin_actor()).await,
            Err(StoreError::Conflict(Conflict::Pending(_)))
        ));
        store
            .put_org_settings(org, None, &staged, &admin_actor())
            .await
            .unwrap();
        let second = store
            .stage(org, &create, &admin_actor())
            .await
            .unwrap()
            .unwrap();
        let replace = StagedWrite::Replace {
            id: first.id.clone(),
            expected_version: Some(first.version),
            object: StagedObject::Route(route("first", "/a2")),
        };
        store.stage(org, &replace, &admin_actor()).await.unwrap();
        // Another author's edit of the same object is refused; the same author's is merged.
        assert!(matches!(
            store.stage(org, &replace, &actor_named("bob")).await,
            Err(StoreError::Conflict(Conflict::Pending(_)))
        ));
        let again = store
            .stage(org, &replace, &admin_actor())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.version, 2, "{backend}");
        assert_eq!(store.pending_counts(org).await.unwrap().routes, 2);
        assert_eq!(store.list_routes(org).await.unwrap().len(), 1, "{backend}");

        // The object moves on underneath (a declarative apply): nothing is applied.
        store
            .update_route(org, &first.id, None, &route("first", "/a3"), &admin_actor())
            .await
            .unwrap();
        let refused = store.activate(org, None, caps, &admin_actor(), None).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(Conflict::Pending(_)))),
            "{backend}: {refused:?}"
        );
        assert_eq!(store.list_routes(org).await.unwrap().len(), 1, "{backend}");
        assert_eq!(store.pending_counts(org).await.unwrap().total, 2);

        // Withdrawn by its author, the rest applies, in one configuration version.
        let pending = store.list_pending(org).await.unwrap();
        let stale = pending
            .iter()
            .find(|c| c.target_id == first.id)
            .unwrap()
            .id
            .clone();
        assert!(
            store
                .discard_pending(org, &stale, false, &actor_named("bob"))
                .await
                .is_err()
        );
        store
            .discard_pending(org, &stale, false, &admin_actor())
            .await
            .unwrap();
        // Activating a set other than the one pending (the discarded change was reviewed, or a
        // change was staged after the review) is refused whole.
        let reviewed = vec![(stale.clone(), 2)];
        assert!(matches!(
            store
                .activate(org, Some(&reviewed), caps, &admin_actor(), None)
                .await,
            Err(StoreError::Conflict(Conflict::Pending(_)))
        ));
        let before = store.config_version().await.unwrap();
        let report = store
            .activate(org, None, caps, &admin_actor(), None)
            .await
            .unwrap();
        assert_eq!(report.applied.len(), 1, "{backend}");
        assert!(report.config_version > before, "{backend}");
        let routes = store.list_routes(org).await.unwrap();
        assert_eq!(routes.len(), 2, "{backend}");
        assert!(routes.iter().any(|r| r.id == second.target_id));
        assert_eq!(store.pending_counts(org).await.unwrap().total, 0);

        // A delete of a pending create cancels it; a delete of an active object waits.
        let temp = StagedWrite::Create(StagedObject::Route(route("temp", "/t")));
        let temp = store
            .stage(org, &temp, &admin_actor())
            .await
            .unwrap()
            .unwrap();
        let cancel = StagedWrite::Delete {
            kind: PendingKind::Routes,
            id: temp.target_id.clone(),
            expected_version: None,
        };
        assert!(
            store
                .stage(org, &cancel, &admin_actor())
                .await
                .unwrap()
                .is_none()
        );
        let delete = StagedWrite::Delete {
            kind: PendingKind::Routes,
            id: first.id.clone(),
            expected_version: None,
        };
        store.stage(org, &delete, &admin_actor()).await.unwrap();
        let configuration = store.read_configuration(org).await.unwrap();
        assert_eq!(configuration.routes.len(), 2, "{backend}");
        // Another author's change elsewhere; a selection applies exactly what it names.
        let bobs = StagedWrite::Create(StagedObject::Route(route("bobs", "/bobs")));
        let bobs = store
            .stage(org, &bobs, &actor_named("bob"))
            .await
            .unwrap()
            .unwrap();
        let mine: Vec<(String, i64)> = store
            .list_pending(org)
            .await
            .unwrap()
            .into_iter()
            .filter(|c| c.staged_by == "admin")
            .map(|c| (c.id, c.version))
            .collect();
        assert_eq!(mine.len(), 1, "{backend}");
        let report = store
            .activate(org, Some(&mine), caps, &admin_actor(), None)
            .await
            .unwrap();
        assert_eq!(report.applied.len(), 1);
        assert_eq!(store.list_routes(org).await.unwrap().len(), 1, "{backend}");
        assert_eq!(store.list_pending(org).await.unwrap()[0].id, bobs.id);
        // The same selection again: already applied, so refused, and Bob's change untouched.
        assert!(matches!(
            store
                .activate(org, Some(&mine), caps, &admin_actor(), None)
                .await,
            Err(StoreError::Conflict(Conflict::Pending(_)))
        ));
        assert_eq!(store.pending_counts(org).await.unwrap().total, 1);
        let audit = store
            .query_audit(org, &AuditFilter::default())
            .await
            .unwrap();
        assert_eq!(
            audit.iter().filter(|e| e.action == "activate").count(),
            2,
            "{backend}"
        );
    }
}

#[tokio::test]
async fn concurrent_activations_apply_each_change_once() {
    use portcullis_store::{PendingKind, StagedObject, StagedWrite};
    let caps = CAPS;
    for (backend, store, _dir) in stores().await {
        let org = store.ensure_org(Some(272_378)).await.unwrap().id;
        let doomed = store
            .create_route(org, &route("doomed", "/d"), &admin_actor())
            .await
            .unwrap();
        store
            .put_org_settings(org, None, &staged_settings(), &admin_actor())
            .await
            .unwrap();
        let delete = StagedWrite::Delete {
            kind: PendingKind::Routes,
            id: doomed.id.clone(),
            expected_version: None,
        };
        store.stage(org, &delete, &admin_actor()).await.unwrap();
        let create = StagedWrite::Create(StagedObject::Route(route("fresh", "/f")));
        store.stage(org, &create, &admin_actor()).await.unwrap();
        let (admin, bob) = (admin_actor(), actor_named("bob"));
        let (a, b) = tokio::join!(
            store.activate(org, None, caps, &admin, None),
            store.activate(org, None, caps, &bob, None),
        );
        let applied: usize = [&a, &b]
            .iter()
            .map(|r| r.as_ref().map_or(0, |report| report.applied.len()))
            .sum();
        assert_eq!(applied, 2, "{backend}: {a:?} / {b:?}");
        let audit = store
            .query_audit(org, &AuditFilter::default())
            .await
            .unwrap();
        assert_eq!(
            audit.iter().filter(|e| e.action == "activate").count(),
            1,
            "{backend}"
        );
        assert_eq!(
            audit.iter().filter(|e| e.action == "delete").count(),
            1,
            "{backend}"
        );
        let names: Vec<String> = store
            .list_routes(org)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.definition.name)
            .collect();
        assert_eq!(names, ["fresh"], "{backend}");
    }
}

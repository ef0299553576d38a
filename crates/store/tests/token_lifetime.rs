//! `maxTokenLifetimeS` in the store (issue 10 §5): it round-trips with the definition, and
//! migration 0005 writes the preset's value into definitions stored before the setting existed.
//! Runs on SQLite always and on PostgreSQL when `PORTCULLIS_TEST_DATABASE_URL` names a server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_policy::{ServerDefinition, ServerInput};
use portcullis_store::{Actor, Interface, Store};
use serde_json::{Value, json};
use sqlx::{Connection, Row};

/// One database per backend available: its URL (to reopen it) and a temp dir to keep alive.
async fn databases() -> Vec<(&'static str, String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/portcullis.db", dir.path().display());
    let mut out = vec![("sqlite", url, Some(dir))];
    match std::env::var("PORTCULLIS_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            out.push(("postgres", fresh_postgres(&admin_url).await, None))
        }
        _ => portcullis_testkit::skip::part(
            "PostgreSQL half (set PORTCULLIS_TEST_DATABASE_URL to run it)",
        ),
    }
    out
}

async fn fresh_postgres(admin_url: &str) -> String {
    use sqlx::Executor;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("portcullis_test_lifetime_{}_{nanos}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url, |(base, _)| base);
    format!("{base}/{name}")
}

fn actor() -> Actor {
    Actor {
        name: "admin".into(),
        client_ip: None,
        interface: Interface::Api,
    }
}

fn definition(name: &str, extra: Value) -> ServerDefinition {
    let mut body = json!({"name": name, "jwksUri": "https://idp.example.com/keys",
                          "audiences": ["api://portcullis"]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value::<ServerInput>(body)
        .unwrap()
        .resolve()
}

#[tokio::test]
async fn max_token_lifetime_round_trips() {
    for (backend, url, _dir) in databases().await {
        let store = Store::open(&url).await.unwrap();
        let org = store.ensure_org(Some(272_378)).await.unwrap().id;
        let created = store
            .create_server(
                org,
                &definition("short", json!({"maxTokenLifetimeS": 3600})),
                None,
                &actor(),
            )
            .await
            .unwrap();
        let read = store.get_server(org, &created.id).await.unwrap();
        assert_eq!(read.definition.max_token_lifetime_s, 3600, "{backend}");
        for lifetime in [0, 31_536_000, 86_400] {
            let mut changed = read.definition.clone();
            changed.max_token_lifetime_s = lifetime;
            let current = store.get_server(org, &created.id).await.unwrap();
            store
                .update_server(
                    org,
                    &created.id,
                    Some(current.version),
                    &changed,
                    None,
                    &actor(),
                )
                .await
                .unwrap();
            let back = store.get_server(org, &created.id).await.unwrap();
            assert_eq!(
                back.definition.max_token_lifetime_s, lifetime,
                "{backend}: updated to {lifetime}"
            );
        }
    }
}

/// Definitions stored before the setting existed get the preset's value (Entra 100,800; every
/// other preset 86,400) from migration 0005; explicit values, including 0, are left alone.
#[tokio::test]
async fn migration_writes_the_preset_value_into_old_definitions() {
    for (backend, url, _dir) in databases().await {
        let store = Store::open(&url).await.unwrap();
        let org = store.ensure_org(Some(272_378)).await.unwrap().id;
        // (name, preset, explicit value or None = stored without the field, value after migration)
        let rows: [(&str, &str, Option<u32>, u32); 8] = [
            ("generic-old", "generic", None, 86_400),
            ("okta-old", "okta", None, 86_400),
            ("entra-v1-old", "entra_v1", None, 100_800),
            ("entra-v2-old", "entra_v2", None, 100_800),
            ("pingfederate-old", "pingfederate", None, 86_400),
            ("pingone-old", "pingone", None, 86_400),
            ("entra-explicit", "entra_v2", Some(600), 600),
            ("generic-off", "generic", Some(0), 0),
        ];
        let mut ids = Vec::new();
        for (name, preset, explicit, _) in rows {
            let mut extra = json!({"preset": preset});
            if let Some(value) = explicit {
                extra["maxTokenLifetimeS"] = json!(value);
            }
            let created = store
                .create_server(org, &definition(name, extra), None, &actor())
                .await
                .unwrap();
            ids.push(created.id);
        }
        drop(store);

        // Turn the store back into one from before migration 0005: the definitions of the
        // "old" servers lose the field, and 0005 is not recorded as applied.
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        for ((_, _, explicit, _), id) in rows.iter().zip(&ids) {
            if explicit.is_some() {
                continue;
            }
            let row = sqlx::query("SELECT definition FROM authorization_servers WHERE id = $1")
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let mut stored: Value =
                serde_json::from_str(&row.try_get::<String, _>("definition").unwrap()).unwrap();
            stored.as_object_mut().unwrap().remove("maxTokenLifetimeS");
            sqlx::query("UPDATE authorization_servers SET definition = $1 WHERE id = $2")
                .bind(stored.to_string())
                .bind(id)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 5")
            .execute(&mut conn)
            .await
            .unwrap();
        let row = sqlx::query("SELECT definition FROM authorization_servers WHERE id = $1")
            .bind(&ids[1])
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let old: String = row.try_get("definition").unwrap();
        assert!(!old.contains("maxTokenLifetimeS"), "{backend}: {old}");
        conn.close().await.unwrap();

        let store = Store::open(&url).await.unwrap();
        for ((name, _, _, want), id) in rows.iter().zip(&ids) {
            let read = store.get_server(org, id).await.unwrap();
            assert_eq!(
                read.definition.max_token_lifetime_s, *want,
                "{backend}: {name} after migration 0005"
            );
        }
        // The migration wrote the value into the stored JSON itself (not a read-time default).
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        let row = sqlx::query("SELECT definition FROM authorization_servers WHERE id = $1")
            .bind(&ids[2])
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let stored: Value =
            serde_json::from_str(&row.try_get::<String, _>("definition").unwrap()).unwrap();
        assert_eq!(stored["maxTokenLifetimeS"], json!(100_800), "{backend}");
        assert_eq!(
            stored["name"],
            json!("entra-v1-old"),
            "{backend}: the rest is kept"
        );
        conn.close().await.unwrap();
    }
}

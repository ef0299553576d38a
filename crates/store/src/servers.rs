//! Authorization servers: definitions with their fetch status and last good key set.

use portcullis_policy::ServerDefinition;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::AuditEntry;
use crate::limits::{self, LimitedChange};
use crate::repository::{Arg, Change, Key, Stored};
use crate::{Actor, Store, StoreError, from_json, new_id, now_ms, to_json};

/// The audit category of servers.
pub(crate) const CATEGORY: &str = "authorizationServers";

/// Read-only key status of a server (DESIGN.md §1.1 "status").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchStatus {
    /// Last successful JWKS fetch (ms).
    pub last_successful_fetch_at: Option<i64>,
    /// Last attempt (ms).
    pub last_fetch_attempt_at: Option<i64>,
    /// Error of the last attempt, when it failed.
    pub last_fetch_error: Option<String>,
    /// `kid`s of the usable keys of the last good set.
    pub key_ids: Vec<String>,
}

/// The result of one fetch, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Keys fetched and usable: the JWKS document and its usable key ids.
    Success {
        /// The raw JWKS document (kept as last-good keys).
        jwks: String,
        /// Usable kids.
        key_ids: Vec<String>,
    },
    /// The fetch failed; previous keys are kept.
    Failure {
        /// Why.
        error: String,
    },
}

/// A stored authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerRecord {
    /// Stable id.
    pub id: String,
    /// Owning org.
    #[serde(skip)]
    pub org_id: i64,
    /// The definition.
    #[serde(flatten)]
    pub definition: ServerDefinition,
    /// Optimistic-concurrency version, starting at 1.
    pub version: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
    /// Key status.
    pub status: FetchStatus,
    /// The last good JWKS document, if any.
    #[serde(skip)]
    pub last_good_jwks: Option<String>,
}

const COLUMNS: &str = "id, org_id, definition, version, created_at, updated_at, last_successful_fetch_at, \
                       last_fetch_attempt_at, last_fetch_error, key_ids, last_good_jwks";

/// The audit view of a definition (no secrets in server definitions today; the CA bundle is
/// public data but long, so it is summarised).
fn audit_view(definition: &ServerDefinition) -> Value {
    let mut value = serde_json::to_value(definition).unwrap_or(Value::Null);
    if let Some(pem) = definition.ca_bundle_pem.as_ref() {
        value["caBundlePem"] = json!(format!("({} bytes of PEM)", pem.len()));
    }
    value
}

impl Stored for ServerRecord {
    const TABLE: &'static str = "authorization_servers";
    const COLUMNS: &'static str = COLUMNS;
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let definition: String = row.try_get("definition")?;
        let key_ids: String = row.try_get("key_ids")?;
        Ok(Self {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            definition: from_json(&definition)?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            status: FetchStatus {
                last_successful_fetch_at: row.try_get("last_successful_fetch_at")?,
                last_fetch_attempt_at: row.try_get("last_fetch_attempt_at")?,
                last_fetch_error: row.try_get("last_fetch_error")?,
                key_ids: from_json(&key_ids)?,
            },
            last_good_jwks: row.try_get("last_good_jwks")?,
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

impl Store {
    /// All servers of the org, by name.
    pub async fn list_servers(&self, org: i64) -> Result<Vec<ServerRecord>, StoreError> {
        self.list_rows(&Key::org(org), "name").await
    }

    /// One server of the org.
    pub async fn get_server(&self, org: i64, id: &str) -> Result<ServerRecord, StoreError> {
        self.get_row(&Key::id(org, id)).await
    }

    /// Creates a server, enforcing the org's limits, with its audit entry, in one transaction.
    /// `initial` records the validation fetch done before saving (status and last-good keys).
    pub async fn create_server(
        &self,
        org: i64,
        definition: &ServerDefinition,
        initial: Option<&FetchOutcome>,
        actor: &Actor,
    ) -> Result<ServerRecord, StoreError> {
        let mut change = self.change(org).await?;
        let id = new_id();
        let entry = create_server_in(&mut change, &id, definition, initial, now_ms()).await?;
        change.commit_read(actor, &entry, &Key::id(org, &id)).await
    }

    /// Replaces a server's definition. `expected_version`, when given, must be the current
    /// version (optimistic concurrency); the version is bumped either way.
    pub async fn update_server(
        &self,
        org: i64,
        id: &str,
        expected_version: Option<i64>,
        definition: &ServerDefinition,
        refreshed: Option<&FetchOutcome>,
        actor: &Actor,
    ) -> Result<ServerRecord, StoreError> {
        let mut change = self.change(org).await?;
        let entry = update_server_in(
            &mut change,
            id,
            expected_version,
            definition,
            refreshed,
            now_ms(),
        )
        .await?;
        change.commit_read(actor, &entry, &Key::id(org, id)).await
    }

    /// Deletes a server, with its audit entry.
    pub async fn delete_server(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<ServerRecord, StoreError> {
        let mut change = self.change(org).await?;
        let (current, entry) = delete_server_in(&mut change, id, None).await?;
        change.commit(actor, &entry).await?;
        Ok(current)
    }

    /// Records a fetch attempt: success replaces the last good keys and clears the error;
    /// failure keeps the previous keys and records the error.
    pub async fn record_fetch(
        &self,
        org: i64,
        id: &str,
        outcome: &FetchOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        record_fetch_in(&mut tx, org, id, outcome, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts server `id` (limits enforced) inside `change`; the audit entry to commit with it.
/// `initial` is the key check made before saving, at `fetched_at`.
pub(crate) async fn create_server_in(
    change: &mut Change,
    id: &str,
    definition: &ServerDefinition,
    initial: Option<&FetchOutcome>,
    fetched_at: i64,
) -> Result<AuditEntry, StoreError> {
    limits::enforce(
        change,
        LimitedChange::CreateServer {
            enabled: definition.enabled,
        },
    )
    .await?;
    let now = now_ms();
    let (success_at, error, key_ids, jwks) = match initial {
        Some(FetchOutcome::Success { jwks, key_ids }) => (
            Some(fetched_at),
            None,
            key_ids.as_slice(),
            Some(jwks.as_str()),
        ),
        Some(FetchOutcome::Failure { error }) => (None, Some(error.as_str()), &[][..], None),
        None => (None, None, &[][..], None),
    };
    let values = [
        ("id", Arg::Str(id)),
        ("name", Arg::Str(&definition.name)),
        ("enabled", Arg::Bool(definition.enabled)),
        ("definition", Arg::Owned(to_json(definition)?)),
        ("created_at", Arg::Int(now)),
        ("updated_at", Arg::Int(now)),
        ("last_successful_fetch_at", Arg::OptInt(success_at)),
        (
            "last_fetch_attempt_at",
            Arg::OptInt(initial.map(|_| fetched_at)),
        ),
        ("last_fetch_error", Arg::OptStr(error)),
        ("key_ids", Arg::Owned(to_json(&key_ids)?)),
        ("last_good_jwks", Arg::OptStr(jwks)),
    ];
    change
        .insert::<ServerRecord>(&values, Some(("name", &definition.name)))
        .await?;
    let after = Some(audit_view(definition));
    Ok(AuditEntry::success(
        "create",
        CATEGORY,
        &definition.name,
        None,
        after,
    ))
}

/// Replaces server `id`'s definition inside `change` (limits enforced, compare-and-swap on
/// `expected_version` when given); the audit entry to commit with it. `refreshed` is the key
/// check made before saving, at `fetched_at`.
pub(crate) async fn update_server_in(
    change: &mut Change,
    id: &str,
    expected_version: Option<i64>,
    definition: &ServerDefinition,
    refreshed: Option<&FetchOutcome>,
    fetched_at: i64,
) -> Result<AuditEntry, StoreError> {
    let org = change.org();
    let key = Key::id(org, id);
    let current: ServerRecord = change.current(&key, expected_version).await?;
    let (was_enabled, enabled) = (current.definition.enabled, definition.enabled);
    limits::enforce(
        change,
        LimitedChange::UpdateServer {
            was_enabled,
            enabled,
        },
    )
    .await?;
    let now = now_ms();
    let values = [
        ("name", Arg::Str(&definition.name)),
        ("enabled", Arg::Bool(enabled)),
        ("definition", Arg::Owned(to_json(definition)?)),
        ("updated_at", Arg::Int(now)),
    ];
    change
        .swap(&key, &current, &values, Some(("name", &definition.name)))
        .await?;
    if let Some(outcome) = refreshed {
        record_fetch_in(change.tx(), org, id, outcome, fetched_at).await?;
    }
    let action = match (was_enabled, enabled) {
        (false, true) => "enable",
        (true, false) => "disable",
        _ => "update",
    };
    let before = Some(audit_view(&current.definition));
    let after = Some(audit_view(definition));
    Ok(AuditEntry::success(
        action,
        CATEGORY,
        &definition.name,
        before,
        after,
    ))
}

/// Deletes server `id` inside `change` (if still at `expected_version`, when given); the
/// server as it was and the audit entry to commit with it.
pub(crate) async fn delete_server_in(
    change: &mut Change,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(ServerRecord, AuditEntry), StoreError> {
    let key = Key::id(change.org(), id);
    let current: ServerRecord = change.current(&key, expected_version).await?;
    change.delete::<ServerRecord>(&key).await?;
    let before = Some(audit_view(&current.definition));
    let entry = AuditEntry::success("delete", CATEGORY, &current.definition.name, before, None);
    Ok((current, entry))
}

async fn record_fetch_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: i64,
    id: &str,
    outcome: &FetchOutcome,
    now: i64,
) -> Result<(), StoreError> {
    let done = match outcome {
        FetchOutcome::Success { jwks, key_ids } => {
            sqlx::query(
                "UPDATE authorization_servers SET last_successful_fetch_at = $1, last_fetch_attempt_at = $2, \
                 last_fetch_error = NULL, key_ids = $3, last_good_jwks = $4 WHERE org_id = $5 AND id = $6",
            )
            .bind(now)
            .bind(now)
            .bind(to_json(key_ids)?)
            .bind(jwks)
            .bind(org)
            .bind(id)
            .execute(&mut **tx)
            .await?
        }
        FetchOutcome::Failure { error } => {
            sqlx::query(
                "UPDATE authorization_servers SET last_fetch_attempt_at = $1, last_fetch_error = $2 \
                 WHERE org_id = $3 AND id = $4",
            )
            .bind(now)
            .bind(error)
            .bind(org)
            .bind(id)
            .execute(&mut **tx)
            .await?
        }
    };
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    let result = match outcome {
        FetchOutcome::Success { key_ids, .. } => Ok(key_ids.as_slice()),
        FetchOutcome::Failure { error } => Err(error.as_str()),
    };
    crate::key_history::record_in(tx, org, id, now, result).await
}

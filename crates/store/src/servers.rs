//! Authorization servers: definitions with their fetch status and last good key set.

use portcullis_policy::ServerDefinition;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, AuditResult, append_in};
use crate::{Actor, Conflict, Store, StoreError, from_json, map_unique, new_id, now_ms, to_json};

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

fn record(row: &AnyRow) -> Result<ServerRecord, StoreError> {
    let definition: String = row.try_get("definition")?;
    let key_ids: String = row.try_get("key_ids")?;
    Ok(ServerRecord {
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

/// The audit view of a definition (no secrets in server definitions today; the CA bundle is
/// public data but long, so it is summarised).
fn audit_view(definition: &ServerDefinition) -> Value {
    let mut value = serde_json::to_value(definition).unwrap_or(Value::Null);
    if let Some(pem) = definition.ca_bundle_pem.as_ref() {
        value["caBundlePem"] = json!(format!("({} bytes of PEM)", pem.len()));
    }
    value
}

impl Store {
    /// All servers of the org, by name.
    pub async fn list_servers(&self, org: i64) -> Result<Vec<ServerRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM authorization_servers WHERE org_id = $1 ORDER BY name"
        ))
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// One server of the org.
    pub async fn get_server(&self, org: i64, id: &str) -> Result<ServerRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM authorization_servers WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        record(&row)
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
        let mut tx = self.begin_write().await?;
        crate::lock_org(&mut tx, org).await?;
        let limits: (i64, i64) = sqlx::query_as(
            "SELECT max_authorization_servers, max_enabled_authorization_servers FROM orgs WHERE id = $1",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        let (total, enabled): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(enabled), 0) AS BIGINT) FROM authorization_servers WHERE org_id = $1",
        )
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
        if total >= limits.0 {
            return Err(StoreError::LimitExceeded(format!(
                "this organization may have at most {} authorization servers",
                limits.0
            )));
        }
        if definition.enabled && enabled >= limits.1 {
            return Err(StoreError::LimitExceeded(format!(
                "this organization may have at most {} enabled authorization servers; create it disabled or disable another",
                limits.1
            )));
        }
        let id = new_id();
        let now = now_ms();
        let (success_at, error, key_ids, jwks) = match initial {
            Some(FetchOutcome::Success { jwks, key_ids }) => {
                (Some(now), None, key_ids.clone(), Some(jwks.clone()))
            }
            Some(FetchOutcome::Failure { error }) => (None, Some(error.clone()), Vec::new(), None),
            None => (None, None, Vec::new(), None),
        };
        let attempt_at = initial.map(|_| now);
        sqlx::query(
            "INSERT INTO authorization_servers (id, org_id, name, enabled, definition, version, created_at, updated_at, \
             last_successful_fetch_at, last_fetch_attempt_at, last_fetch_error, key_ids, last_good_jwks) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(org)
        .bind(&definition.name)
        .bind(i64::from(definition.enabled))
        .bind(to_json(definition)?)
        .bind(now)
        .bind(now)
        .bind(success_at)
        .bind(attempt_at)
        .bind(error)
        .bind(to_json(&key_ids)?)
        .bind(jwks)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", &definition.name))?;
        let entry = AuditEntry {
            action: "create".into(),
            category: "authorizationServers".into(),
            resource: definition.name.clone(),
            result: AuditResult::Success,
            before: None,
            after: Some(audit_view(definition)),
            detail: None,
        };
        append_in(&mut tx, org, actor, &entry).await?;
        tx.commit().await?;
        self.get_server(org, &id).await
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
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM authorization_servers WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = record(&row)?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version,
            }));
        }
        if definition.enabled && !current.definition.enabled {
            crate::lock_org(&mut tx, org).await?;
            let (max_enabled,): (i64,) =
                sqlx::query_as("SELECT max_enabled_authorization_servers FROM orgs WHERE id = $1")
                    .bind(org)
                    .fetch_one(&mut *tx)
                    .await?;
            let (enabled,): (i64,) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(enabled), 0) AS BIGINT) FROM authorization_servers WHERE org_id = $1",
            )
            .bind(org)
            .fetch_one(&mut *tx)
            .await?;
            if enabled >= max_enabled {
                return Err(StoreError::LimitExceeded(format!(
                    "this organization may have at most {max_enabled} enabled authorization servers"
                )));
            }
        }
        let now = now_ms();
        // The version compare-and-swap also protects against a concurrent writer between our
        // read and this update (another node, another transaction).
        let updated = sqlx::query(
            "UPDATE authorization_servers SET name = $1, enabled = $2, definition = $3, version = version + 1, updated_at = $4 \
             WHERE org_id = $5 AND id = $6 AND version = $7",
        )
        .bind(&definition.name)
        .bind(i64::from(definition.enabled))
        .bind(to_json(definition)?)
        .bind(now)
        .bind(org)
        .bind(id)
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", &definition.name))?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version + 1,
            }));
        }
        if let Some(outcome) = refreshed {
            record_fetch_in(&mut tx, org, id, outcome, now).await?;
        }
        let action = match (current.definition.enabled, definition.enabled) {
            (false, true) => "enable",
            (true, false) => "disable",
            _ => "update",
        };
        let entry = AuditEntry {
            action: action.into(),
            category: "authorizationServers".into(),
            resource: definition.name.clone(),
            result: AuditResult::Success,
            before: Some(audit_view(&current.definition)),
            after: Some(audit_view(definition)),
            detail: None,
        };
        append_in(&mut tx, org, actor, &entry).await?;
        tx.commit().await?;
        self.get_server(org, id).await
    }

    /// Deletes a server, with its audit entry.
    pub async fn delete_server(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<ServerRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM authorization_servers WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = record(&row)?;
        sqlx::query("DELETE FROM authorization_servers WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry {
            action: "delete".into(),
            category: "authorizationServers".into(),
            resource: current.definition.name.clone(),
            result: AuditResult::Success,
            before: Some(audit_view(&current.definition)),
            after: None,
            detail: None,
        };
        append_in(&mut tx, org, actor, &entry).await?;
        tx.commit().await?;
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
    Ok(())
}

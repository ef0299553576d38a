//! Credentials other than OAuth (DESIGN.md §1.4): the org's Cloud Service API Key (stored
//! encrypted: the store only ever sees the sealed envelope the server made), the legacy sessions
//! opened with it (only SHA-256 of the session id), and sandbox API tokens (only SHA-256 of the
//! token and a short hint).
//!
//! Invariants, besides the crate's (org scoping, audit in the same transaction):
//! - every change of the API key (replace, regenerate, delete) deletes the org's legacy sessions
//!   in the same transaction: a session never outlives the key it was opened with;
//! - audit entries name the key and tokens `(redacted)`; no secret, hash or envelope is recorded;
//! - the sandbox-token limit is checked while holding the org row, so concurrent creations cannot
//!   pass it together.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{AuditEntry, AuditResult, append_in};
use crate::{Actor, Conflict, Store, StoreError, is_unique_violation, map_unique, new_id, now_ms};

/// The audit category of everything here (DESIGN.md §1.2 `api_credentials`).
pub const CATEGORY: &str = "apiCredentials";

/// What audit entries show instead of a secret.
const REDACTED: &str = "(redacted)";

/// The org's Cloud Service API Key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The sealed (encrypted) key; only the server's secret key opens it.
    pub sealed: String,
    /// Increases with every change (compare-and-swap).
    pub version: i64,
    /// Actor of the last change.
    pub last_modified_by: String,
    /// Time of the last change (ms).
    pub last_modified_at: i64,
}

/// How the API key is being replaced (recorded as the audit action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyChange {
    /// An admin typed a new value.
    Update,
    /// A random value.
    Regenerate,
}

/// A legacy (`JSESSIONID`) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySessionRecord {
    /// Owning org.
    pub org_id: i64,
    /// The admin who signed in.
    pub admin_id: String,
    /// Created (ms).
    pub created_at: i64,
    /// Last use (ms), as last written by a node.
    pub last_seen_at: i64,
}

/// A sandbox API token as stored: never the value, only its hash and hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTokenRecord {
    /// Stable id.
    pub id: String,
    /// Owning org.
    pub org_id: i64,
    /// Unique name in the org.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The token's last characters.
    pub hint: String,
    /// Version.
    pub version: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Last change of the name or value (ms).
    pub updated_at: i64,
    /// Actor of the last change.
    pub last_modified_by: String,
}

fn api_key_record(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        sealed: row.try_get("sealed")?,
        version: row.try_get("version")?,
        last_modified_by: row.try_get("last_modified_by")?,
        last_modified_at: row.try_get("last_modified_at")?,
    })
}

const TOKEN_COLUMNS: &str =
    "id, org_id, name, token_hash, hint, version, created_at, updated_at, last_modified_by";

fn token_record(row: &AnyRow) -> Result<SandboxTokenRecord, StoreError> {
    Ok(SandboxTokenRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        token_hash: row.try_get("token_hash")?,
        hint: row.try_get("hint")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_modified_by: row.try_get("last_modified_by")?,
    })
}

fn entry(
    action: &str,
    resource: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    detail: Option<String>,
) -> AuditEntry {
    AuditEntry {
        action: action.into(),
        category: CATEGORY.into(),
        resource: resource.to_owned(),
        result: AuditResult::Success,
        before,
        after,
        detail,
    }
}

/// Deletes the org's legacy sessions and records the change for other nodes' caches; returns how
/// many there were.
async fn end_legacy_sessions(tx: &mut Transaction<'_, Any>, org: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM legacy_sessions WHERE org_id = $1")
        .bind(org)
        .execute(&mut **tx)
        .await?;
    crate::sessions::record_session_change(tx, org, None).await?;
    Ok(done.rows_affected())
}

fn sessions_ended(n: u64) -> Option<String> {
    (n > 0).then(|| format!("ended {n} API key session(s) opened with the old key"))
}

impl Store {
    /// The org's API key, if one exists.
    pub async fn get_api_key(&self, org: i64) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query("SELECT sealed, version, last_modified_by, last_modified_at FROM api_keys WHERE org_id = $1")
            .bind(org)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_key_record).transpose()
    }

    /// Stores the org's first API key; a conflict when one exists.
    pub async fn create_api_key(
        &self,
        org: i64,
        sealed: &str,
        actor: &Actor,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_keys (org_id, sealed, version, last_modified_by, last_modified_at) VALUES ($1, $2, 1, $3, $4)",
        )
        .bind(org)
        .bind(sealed)
        .bind(&actor.name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(Conflict::Exists(
                    "this organization already has a Cloud Service API Key; edit or regenerate it instead".into(),
                ))
            } else {
                e.into()
            }
        })?;
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "create",
                "apiKey",
                None,
                Some(json!({"apiKey": REDACTED})),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_api_key(org).await?.ok_or(StoreError::NotFound)
    }

    /// Replaces the org's API key if it is still at `expected_version`, ending every legacy
    /// session opened with the old one.
    pub async fn replace_api_key(
        &self,
        org: i64,
        expected_version: i64,
        sealed: &str,
        change: ApiKeyChange,
        actor: &Actor,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET sealed = $1, version = version + 1, last_modified_by = $2, last_modified_at = $3 \
             WHERE org_id = $4 AND version = $5",
        )
        .bind(sealed)
        .bind(&actor.name)
        .bind(now_ms())
        .bind(org)
        .bind(expected_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            let current: Option<(i64,)> =
                sqlx::query_as("SELECT version FROM api_keys WHERE org_id = $1")
                    .bind(org)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Err(match current {
                None => StoreError::NotFound,
                Some((current,)) => StoreError::Conflict(Conflict::StaleVersion { current }),
            });
        }
        let ended = end_legacy_sessions(&mut tx, org).await?;
        let action = match change {
            ApiKeyChange::Update => "update",
            ApiKeyChange::Regenerate => "regenerate",
        };
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                action,
                "apiKey",
                Some(json!({"apiKey": REDACTED})),
                Some(json!({"apiKey": REDACTED})),
                sessions_ended(ended),
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_api_key(org).await?.ok_or(StoreError::NotFound)
    }

    /// Deletes the org's API key and every legacy session opened with it.
    pub async fn delete_api_key(&self, org: i64, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM api_keys WHERE org_id = $1")
            .bind(org)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        let ended = end_legacy_sessions(&mut tx, org).await?;
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "delete",
                "apiKey",
                Some(json!({"apiKey": REDACTED})),
                None,
                sessions_ended(ended),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new legacy session under `id_hash`.
    pub async fn create_legacy_session(
        &self,
        id_hash: &str,
        org: i64,
        admin_id: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO legacy_sessions (id_hash, org_id, admin_id, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(org)
        .bind(admin_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The org's legacy session under `id_hash` if it was used within `idle_ms`; marks it used
    /// now. An idle-expired session is deleted. No absolute lifetime: see
    /// [`Store::touch_legacy_session_within`].
    pub async fn touch_legacy_session(
        &self,
        org: i64,
        id_hash: &str,
        idle_ms: i64,
    ) -> Result<Option<LegacySessionRecord>, StoreError> {
        self.touch_legacy_session_within(org, id_hash, idle_ms, i64::MAX)
            .await
    }

    /// The org's legacy session under `id_hash` if it was used within `idle_ms` and created
    /// within `max_age_ms`; marks it used now. An expired session (either way) is deleted.
    pub async fn touch_legacy_session_within(
        &self,
        org: i64,
        id_hash: &str,
        idle_ms: i64,
        max_age_ms: i64,
    ) -> Result<Option<LegacySessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT org_id, admin_id, created_at, last_seen_at FROM legacy_sessions WHERE org_id = $1 AND id_hash = $2",
        )
        .bind(org)
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let session = LegacySessionRecord {
            org_id: row.try_get("org_id")?,
            admin_id: row.try_get("admin_id")?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
        };
        let now = now_ms();
        if now.saturating_sub(session.last_seen_at) > idle_ms
            || now.saturating_sub(session.created_at) > max_age_ms
        {
            self.delete_legacy_session(org, id_hash).await?;
            return Ok(None);
        }
        // Never move last use backwards (another node may have written a later time).
        sqlx::query(
            "UPDATE legacy_sessions SET last_seen_at = $1 WHERE org_id = $2 AND id_hash = $3 AND last_seen_at < $4",
        )
        .bind(now)
        .bind(org)
        .bind(id_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(Some(LegacySessionRecord {
            last_seen_at: now,
            ..session
        }))
    }

    /// Ends a legacy session; whether it existed.
    pub async fn delete_legacy_session(&self, org: i64, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM legacy_sessions WHERE org_id = $1 AND id_hash = $2")
            .bind(org)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes legacy sessions idle for longer than `idle_ms` (all orgs; housekeeping).
    pub async fn purge_idle_legacy_sessions(&self, idle_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM legacy_sessions WHERE last_seen_at < $1")
            .bind(now_ms() - idle_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The org's sandbox tokens, by name.
    pub async fn list_sandbox_tokens(
        &self,
        org: i64,
    ) -> Result<Vec<SandboxTokenRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM sandbox_tokens WHERE org_id = $1 ORDER BY name"
        ))
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_record).collect()
    }

    /// One sandbox token.
    pub async fn get_sandbox_token(
        &self,
        org: i64,
        id: &str,
    ) -> Result<SandboxTokenRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM sandbox_tokens WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        token_record(&row)
    }

    /// The org's sandbox token whose SHA-256 is `token_hash`, if any.
    pub async fn find_sandbox_token(
        &self,
        org: i64,
        token_hash: &str,
    ) -> Result<Option<SandboxTokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM sandbox_tokens WHERE org_id = $1 AND token_hash = $2"
        ))
        .bind(org)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_record).transpose()
    }

    /// Creates a sandbox token (at most `max_tokens` per org).
    pub async fn create_sandbox_token(
        &self,
        org: i64,
        name: &str,
        token_hash: &str,
        hint: &str,
        max_tokens: i64,
        actor: &Actor,
    ) -> Result<SandboxTokenRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        crate::lock_org(&mut tx, org).await?;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sandbox_tokens WHERE org_id = $1")
                .bind(org)
                .fetch_one(&mut *tx)
                .await?;
        if count >= max_tokens {
            return Err(StoreError::LimitExceeded(format!(
                "this organization may have at most {max_tokens} sandbox API tokens; delete one first"
            )));
        }
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sandbox_tokens (id, org_id, name, token_hash, hint, version, created_at, updated_at, last_modified_by) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)",
        )
        .bind(&id)
        .bind(org)
        .bind(name)
        .bind(token_hash)
        .bind(hint)
        .bind(now)
        .bind(now)
        .bind(&actor.name)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", name))?;
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "create",
                name,
                None,
                Some(json!({"name": name, "token": REDACTED})),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_sandbox_token(org, &id).await
    }

    /// Renames a sandbox token (compare-and-swap on `expected_version` when given).
    pub async fn rename_sandbox_token(
        &self,
        org: i64,
        id: &str,
        expected_version: Option<i64>,
        name: &str,
        actor: &Actor,
    ) -> Result<SandboxTokenRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = locked_token(&mut tx, org, id, expected_version).await?;
        let done = sqlx::query(
            "UPDATE sandbox_tokens SET name = $1, version = version + 1, updated_at = $2, last_modified_by = $3 \
             WHERE org_id = $4 AND id = $5 AND version = $6",
        )
        .bind(name)
        .bind(now_ms())
        .bind(&actor.name)
        .bind(org)
        .bind(id)
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", name))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version + 1,
            }));
        }
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "update",
                name,
                Some(json!({"name": current.name})),
                Some(json!({"name": name})),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_sandbox_token(org, id).await
    }

    /// Gives a sandbox token a new value: the old one stops working at once.
    pub async fn regenerate_sandbox_token(
        &self,
        org: i64,
        id: &str,
        token_hash: &str,
        hint: &str,
        actor: &Actor,
    ) -> Result<SandboxTokenRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = locked_token(&mut tx, org, id, None).await?;
        let done = sqlx::query(
            "UPDATE sandbox_tokens SET token_hash = $1, hint = $2, version = version + 1, updated_at = $3, last_modified_by = $4 \
             WHERE org_id = $5 AND id = $6 AND version = $7",
        )
        .bind(token_hash)
        .bind(hint)
        .bind(now_ms())
        .bind(&actor.name)
        .bind(org)
        .bind(id)
        .bind(current.version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version + 1,
            }));
        }
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "regenerate",
                &current.name,
                Some(json!({"name": current.name, "token": REDACTED})),
                Some(json!({"name": current.name, "token": REDACTED})),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_sandbox_token(org, id).await
    }

    /// Deletes a sandbox token.
    pub async fn delete_sandbox_token(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<SandboxTokenRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = locked_token(&mut tx, org, id, None).await?;
        sqlx::query("DELETE FROM sandbox_tokens WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "delete",
                &current.name,
                Some(json!({"name": current.name, "token": REDACTED})),
                None,
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(current)
    }
}

/// Reads a token inside `tx`, checking the expected version when given.
async fn locked_token(
    tx: &mut Transaction<'_, Any>,
    org: i64,
    id: &str,
    expected_version: Option<i64>,
) -> Result<SandboxTokenRecord, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {TOKEN_COLUMNS} FROM sandbox_tokens WHERE org_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    let current = token_record(&row)?;
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(StoreError::Conflict(Conflict::StaleVersion {
            current: current.version,
        }));
    }
    Ok(current)
}

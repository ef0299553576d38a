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

use crate::audit::AuditEntry;
use crate::limits::{self, LimitedChange};
use crate::repository::{Arg, Key, Stored};
use crate::{Actor, Conflict, Store, StoreError, new_id, now_ms};

/// The audit category of everything here (DESIGN.md §1.2 `api_credentials`).
pub const CATEGORY: &str = "apiCredentials";

/// Why a second API key is refused.
const KEY_EXISTS: &str =
    "this organization already has a Cloud Service API Key; edit or regenerate it instead";

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

const TOKEN_COLUMNS: &str =
    "id, org_id, name, token_hash, hint, version, created_at, updated_at, last_modified_by";

fn entry(
    action: &str,
    resource: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    detail: Option<String>,
) -> AuditEntry {
    AuditEntry::success(action, CATEGORY, resource, before, after).with_detail(detail)
}

impl Stored for ApiKeyRecord {
    const TABLE: &'static str = "api_keys";
    const COLUMNS: &'static str = "sealed, version, last_modified_by, last_modified_at";
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            sealed: row.try_get("sealed")?,
            version: row.try_get("version")?,
            last_modified_by: row.try_get("last_modified_by")?,
            last_modified_at: row.try_get("last_modified_at")?,
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

impl Stored for SandboxTokenRecord {
    const TABLE: &'static str = "sandbox_tokens";
    const COLUMNS: &'static str = TOKEN_COLUMNS;
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
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
    fn version(&self) -> i64 {
        self.version
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
        self.find_row(&Key::org(org)).await
    }

    /// Stores the org's first API key; a conflict when one exists.
    pub async fn create_api_key(
        &self,
        org: i64,
        sealed: &str,
        actor: &Actor,
    ) -> Result<ApiKeyRecord, StoreError> {
        let mut change = self.change(org).await?;
        let values = [
            ("sealed", Arg::Str(sealed)),
            ("last_modified_by", Arg::Str(&actor.name)),
            ("last_modified_at", Arg::Int(now_ms())),
        ];
        change
            .insert::<ApiKeyRecord>(&values, Some(("apiKey", REDACTED)))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(Conflict::Duplicate { .. }) => {
                    StoreError::Conflict(Conflict::Exists(KEY_EXISTS.into()))
                }
                other => other,
            })?;
        let after = Some(json!({"apiKey": REDACTED}));
        let entry = entry("create", "apiKey", None, after, None);
        change.commit_read(actor, &entry, &Key::org(org)).await
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
        let key = Key::org(org);
        let mut write = self.change(org).await?;
        let current: ApiKeyRecord = write.current(&key, Some(expected_version)).await?;
        let values = [
            ("sealed", Arg::Str(sealed)),
            ("last_modified_by", Arg::Str(&actor.name)),
            ("last_modified_at", Arg::Int(now_ms())),
        ];
        write.swap(&key, &current, &values, None).await?;
        let ended = end_legacy_sessions(write.tx(), org).await?;
        let action = match change {
            ApiKeyChange::Update => "update",
            ApiKeyChange::Regenerate => "regenerate",
        };
        let redacted = || Some(json!({"apiKey": REDACTED}));
        let entry = entry(
            action,
            "apiKey",
            redacted(),
            redacted(),
            sessions_ended(ended),
        );
        write.commit_read(actor, &entry, &Key::org(org)).await
    }

    /// Deletes the org's API key and every legacy session opened with it.
    pub async fn delete_api_key(&self, org: i64, actor: &Actor) -> Result<(), StoreError> {
        let key = Key::org(org);
        let mut change = self.change(org).await?;
        change.current::<ApiKeyRecord>(&key, None).await?;
        change.delete::<ApiKeyRecord>(&key).await?;
        let ended = end_legacy_sessions(change.tx(), org).await?;
        let before = Some(json!({"apiKey": REDACTED}));
        let entry = entry("delete", "apiKey", before, None, sessions_ended(ended));
        change.commit(actor, &entry).await
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
        self.list_rows(&Key::org(org), "name").await
    }

    /// One sandbox token.
    pub async fn get_sandbox_token(
        &self,
        org: i64,
        id: &str,
    ) -> Result<SandboxTokenRecord, StoreError> {
        self.get_row(&Key::id(org, id)).await
    }

    /// The org's sandbox token whose SHA-256 is `token_hash`, if any.
    pub async fn find_sandbox_token(
        &self,
        org: i64,
        token_hash: &str,
    ) -> Result<Option<SandboxTokenRecord>, StoreError> {
        self.find_row(&Key::org(org).and("token_hash", token_hash))
            .await
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
        let mut change = self.change(org).await?;
        limits::enforce(
            &mut change,
            LimitedChange::CreateSandboxToken { max: max_tokens },
        )
        .await?;
        let id = new_id();
        let now = now_ms();
        let values = [
            ("id", Arg::Str(&id)),
            ("name", Arg::Str(name)),
            ("token_hash", Arg::Str(token_hash)),
            ("hint", Arg::Str(hint)),
            ("created_at", Arg::Int(now)),
            ("updated_at", Arg::Int(now)),
            ("last_modified_by", Arg::Str(&actor.name)),
        ];
        change
            .insert::<SandboxTokenRecord>(&values, Some(("name", name)))
            .await?;
        let after = Some(json!({"name": name, "token": REDACTED}));
        let entry = entry("create", name, None, after, None);
        change.commit_read(actor, &entry, &Key::id(org, &id)).await
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
        let key = Key::id(org, id);
        let mut change = self.change(org).await?;
        let current: SandboxTokenRecord = change.current(&key, expected_version).await?;
        let values = [
            ("name", Arg::Str(name)),
            ("updated_at", Arg::Int(now_ms())),
            ("last_modified_by", Arg::Str(&actor.name)),
        ];
        change
            .swap(&key, &current, &values, Some(("name", name)))
            .await?;
        let before = Some(json!({"name": current.name}));
        let after = Some(json!({"name": name}));
        let entry = entry("update", name, before, after, None);
        change.commit_read(actor, &entry, &key).await
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
        let key = Key::id(org, id);
        let mut change = self.change(org).await?;
        let current: SandboxTokenRecord = change.current(&key, None).await?;
        let values = [
            ("token_hash", Arg::Str(token_hash)),
            ("hint", Arg::Str(hint)),
            ("updated_at", Arg::Int(now_ms())),
            ("last_modified_by", Arg::Str(&actor.name)),
        ];
        change.swap(&key, &current, &values, None).await?;
        let view = || Some(json!({"name": current.name, "token": REDACTED}));
        let entry = entry("regenerate", &current.name, view(), view(), None);
        change.commit_read(actor, &entry, &key).await
    }

    /// Deletes a sandbox token.
    pub async fn delete_sandbox_token(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<SandboxTokenRecord, StoreError> {
        let key = Key::id(org, id);
        let mut change = self.change(org).await?;
        let current: SandboxTokenRecord = change.current(&key, None).await?;
        change.delete::<SandboxTokenRecord>(&key).await?;
        let before = Some(json!({"name": current.name, "token": REDACTED}));
        let entry = entry("delete", &current.name, before, None, None);
        change.commit(actor, &entry).await?;
        Ok(current)
    }
}

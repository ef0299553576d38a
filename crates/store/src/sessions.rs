//! Portal/API sessions. Only a hash of the session id is stored, so a database leak yields no
//! usable session.
//!
//! Every session has an idle timeout and an absolute lifetime, both checked on each read. An
//! admin's sessions (portal and legacy) are ended in the same transaction as the change that ends
//! them (password or role change, delete), and that transaction also appends a row to
//! `session_changes`, which other nodes follow to drop legacy sessions they cached (PostgreSQL
//! announces each row with `NOTIFY portcullis_sessions`).

use sqlx::{Any, Row, Transaction};

use crate::{Store, StoreError, now_ms};

/// The channel new `session_changes` rows are announced on (PostgreSQL; payload: the row's seq).
pub const SESSIONS_CHANNEL: &str = "portcullis_sessions";

/// How long `session_changes` rows are kept (a node away for longer has revalidated or dropped
/// every session it cached long before).
const SESSION_CHANGES_KEPT_MS: i64 = 24 * 3600 * 1000;

/// A change of one admin's sessions, or of all the org's legacy sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionChange {
    /// Increasing (with gaps) position of the change.
    pub seq: i64,
    /// The org.
    pub org_id: i64,
    /// The admin whose sessions changed; `None`: every legacy session of the org (API key change).
    pub admin_id: Option<String>,
}

/// Records that the sessions of `admin_id` (or, with `None`, every legacy session of `org`)
/// changed, inside the writer's transaction.
pub(crate) async fn record_session_change(
    tx: &mut Transaction<'_, Any>,
    org: i64,
    admin_id: Option<&str>,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query("INSERT INTO session_changes (org_id, admin_id, at) VALUES ($1, $2, $3)")
        .bind(org)
        .bind(admin_id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM session_changes WHERE at < $1")
        .bind(now - SESSION_CHANGES_KEPT_MS)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Ends every session (portal and legacy) of `admin_id` inside the writer's transaction and
/// records the change for other nodes. Returns how many sessions ended.
pub(crate) async fn end_admin_sessions(
    tx: &mut Transaction<'_, Any>,
    org: i64,
    admin_id: &str,
) -> Result<u64, StoreError> {
    let portal = sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND admin_id = $2")
        .bind(org)
        .bind(admin_id)
        .execute(&mut **tx)
        .await?;
    let legacy = sqlx::query("DELETE FROM legacy_sessions WHERE org_id = $1 AND admin_id = $2")
        .bind(org)
        .bind(admin_id)
        .execute(&mut **tx)
        .await?;
    record_session_change(tx, org, Some(admin_id)).await?;
    Ok(portal.rows_affected() + legacy.rows_affected())
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Owning org.
    pub org_id: i64,
    /// The admin.
    pub admin_id: String,
    /// The CSRF token bound to this session.
    pub csrf_token: String,
    /// Created (ms).
    pub created_at: i64,
    /// Last use (ms).
    pub last_seen_at: i64,
}

impl Store {
    /// Stores a new session under `id_hash`.
    pub async fn create_session(
        &self,
        id_hash: &str,
        org: i64,
        admin_id: &str,
        csrf_token: &str,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (id_hash, org_id, admin_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(org)
        .bind(admin_id)
        .bind(csrf_token)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session under `id_hash` if it was used within `idle_ms`; marks it used now.
    /// An idle-expired session is deleted. No absolute lifetime: see
    /// [`Store::touch_session_within`].
    pub async fn touch_session(
        &self,
        id_hash: &str,
        idle_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.touch_session_within(id_hash, idle_ms, i64::MAX).await
    }

    /// The session under `id_hash` if it was used within `idle_ms` and created within
    /// `max_age_ms`; marks it used now. An expired session (either way) is deleted.
    pub async fn touch_session_within(
        &self,
        id_hash: &str,
        idle_ms: i64,
        max_age_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query("SELECT org_id, admin_id, csrf_token, created_at, last_seen_at FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session = SessionRecord {
            org_id: row.try_get("org_id")?,
            admin_id: row.try_get("admin_id")?,
            csrf_token: row.try_get("csrf_token")?,
            created_at: row.try_get("created_at")?,
            last_seen_at: row.try_get("last_seen_at")?,
        };
        let now = now_ms();
        if now.saturating_sub(session.last_seen_at) > idle_ms
            || now.saturating_sub(session.created_at) > max_age_ms
        {
            self.delete_session(id_hash).await?;
            return Ok(None);
        }
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(Some(session))
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last recorded session change (0 when there is none).
    pub async fn latest_session_change(&self) -> Result<i64, StoreError> {
        let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM session_changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq)
    }

    /// Session changes after `seq`, oldest first, at most `limit` of them.
    pub async fn session_changes_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<SessionChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, org_id, admin_id FROM session_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionChange {
                    seq: row.try_get("seq")?,
                    org_id: row.try_get("org_id")?,
                    admin_id: row.try_get("admin_id")?,
                })
            })
            .collect()
    }

    /// Deletes sessions idle for longer than `idle_ms`.
    pub async fn purge_idle_sessions(&self, idle_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1")
            .bind(now_ms() - idle_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

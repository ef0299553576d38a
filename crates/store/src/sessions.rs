//! Portal/API sessions. Only a hash of the session id is stored, so a database leak yields no
//! usable session.

use sqlx::Row;

use crate::{Store, StoreError, now_ms};

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
    /// An idle-expired session is deleted.
    pub async fn touch_session(
        &self,
        id_hash: &str,
        idle_ms: i64,
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
        if now - session.last_seen_at > idle_ms {
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

    /// Deletes sessions idle for longer than `idle_ms`.
    pub async fn purge_idle_sessions(&self, idle_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1")
            .bind(now_ms() - idle_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

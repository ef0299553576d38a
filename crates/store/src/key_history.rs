//! What a server's page shows of its keys over time: the recent fetches with their errors
//! (`key_fetches`, the newest [`FETCHES_KEPT`] per server) and when each key id was first and
//! last seen in a good fetch (`server_keys_seen`). Both are written with the fetch status, in
//! the same transaction (`servers.rs`).

use sqlx::Row;

use crate::{Store, StoreError};

/// Fetches kept per server.
pub const FETCHES_KEPT: i64 = 50;

/// One recorded fetch of a server's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFetch {
    /// When (ms).
    pub at: i64,
    /// Whether usable keys came back.
    pub ok: bool,
    /// Why not, if not.
    pub error: Option<String>,
}

/// When a key id was first and last seen in a good fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySeen {
    /// The key id.
    pub kid: String,
    /// First seen (ms).
    pub first_seen_at: i64,
    /// Last seen (ms).
    pub last_seen_at: i64,
}

/// Records a fetch of server `id` at `now` inside the fetch status's transaction: the history
/// row (older ones beyond [`FETCHES_KEPT`] deleted) and, for a good fetch, the key ids seen.
pub(crate) async fn record_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: i64,
    id: &str,
    now: i64,
    result: Result<&[String], &str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_fetches (org_id, server_id, at, ok, error) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org)
    .bind(id)
    .bind(now)
    .bind(i64::from(result.is_ok()))
    .bind(result.err())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM key_fetches WHERE org_id = $1 AND server_id = $2 AND at < \
         (SELECT MIN(at) FROM (SELECT at FROM key_fetches WHERE org_id = $3 AND server_id = $4 \
         ORDER BY at DESC LIMIT $5) AS newest)",
    )
    .bind(org)
    .bind(id)
    .bind(org)
    .bind(id)
    .bind(FETCHES_KEPT)
    .execute(&mut **tx)
    .await?;
    if let Ok(kids) = result {
        for kid in kids {
            sqlx::query(
                "INSERT INTO server_keys_seen (org_id, server_id, kid, first_seen_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, server_id, kid) DO UPDATE SET \
                 last_seen_at = excluded.last_seen_at",
            )
            .bind(org)
            .bind(id)
            .bind(kid)
            .bind(now)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

impl Store {
    /// Server `id`'s recorded fetches, newest first.
    pub async fn key_fetches(&self, org: i64, id: &str) -> Result<Vec<KeyFetch>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, ok, error FROM key_fetches WHERE org_id = $1 AND server_id = $2 \
             ORDER BY at DESC LIMIT $3",
        )
        .bind(org)
        .bind(id)
        .bind(FETCHES_KEPT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let ok: i64 = row.try_get(1)?;
                Ok(KeyFetch {
                    at: row.try_get(0)?,
                    ok: ok != 0,
                    error: row.try_get(2)?,
                })
            })
            .collect()
    }

    /// When each key id of server `id` was first and last seen, by key id.
    pub async fn keys_seen(&self, org: i64, id: &str) -> Result<Vec<KeySeen>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, first_seen_at, last_seen_at FROM server_keys_seen \
             WHERE org_id = $1 AND server_id = $2 ORDER BY kid",
        )
        .bind(org)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(KeySeen {
                    kid: row.try_get(0)?,
                    first_seen_at: row.try_get(1)?,
                    last_seen_at: row.try_get(2)?,
                })
            })
            .collect()
    }
}

//! Access decisions per node and minute (`decision_minutes`), written by each node's heartbeat
//! (`runtime::decisions`) and read by the portal's dashboard.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::{Store, StoreError};

/// One node's decisions in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionMinute {
    /// The node that counted them.
    pub node_id: String,
    /// Minutes since the epoch.
    pub minute: i64,
    /// Allowed decisions.
    pub allowed: i64,
    /// Denied decisions.
    pub denied: i64,
    /// Denied decisions by reason.
    pub reasons: BTreeMap<String, i64>,
    /// [allowed, denied] by server name.
    pub servers: BTreeMap<String, [i64; 2]>,
}

impl Store {
    /// Writes (replaces) `node_id`'s counts for `minute`, and deletes its rows before
    /// `keep_from` (both in one transaction).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_decision_minute(
        &self,
        org: i64,
        node_id: &str,
        minute: i64,
        allowed: i64,
        denied: i64,
        reasons: &BTreeMap<String, i64>,
        servers: &BTreeMap<String, [i64; 2]>,
        keep_from: i64,
    ) -> Result<(), StoreError> {
        let reasons = serde_json::to_string(reasons).unwrap_or_else(|_| "{}".to_owned());
        let servers = serde_json::to_string(servers).unwrap_or_else(|_| "{}".to_owned());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO decision_minutes (org_id, node_id, minute, allowed, denied, reasons, servers) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, node_id, minute) DO UPDATE SET \
             allowed = excluded.allowed, denied = excluded.denied, reasons = excluded.reasons, \
             servers = excluded.servers",
        )
        .bind(org)
        .bind(node_id)
        .bind(minute)
        .bind(allowed)
        .bind(denied)
        .bind(&reasons)
        .bind(&servers)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            // Every node's old rows, not only this node's: nodes come and go (a new pod name on
            // every rollout) and a departed node's minutes would otherwise stay for ever.
            "DELETE FROM decision_minutes WHERE org_id = $1 AND minute < $2",
        )
        .bind(org)
        .bind(keep_from)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every node's counts from `since_minute` on, by minute.
    pub async fn decision_minutes(
        &self,
        org: i64,
        since_minute: i64,
    ) -> Result<Vec<DecisionMinute>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_id, minute, allowed, denied, reasons, servers FROM decision_minutes \
             WHERE org_id = $1 AND minute >= $2 ORDER BY minute, node_id",
        )
        .bind(org)
        .bind(since_minute)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let reasons: String = row.try_get(4)?;
                let servers: String = row.try_get(5)?;
                Ok(DecisionMinute {
                    node_id: row.try_get(0)?,
                    minute: row.try_get(1)?,
                    allowed: row.try_get(2)?,
                    denied: row.try_get(3)?,
                    // A row this code did not write is shown without its reasons.
                    reasons: serde_json::from_str(&reasons).unwrap_or_default(),
                    servers: serde_json::from_str(&servers).unwrap_or_default(),
                })
            })
            .collect()
    }
}

//! Cluster bookkeeping (DESIGN.md §4): the configuration version every node converges on, the
//! change notifications that announce it (PostgreSQL `LISTEN/NOTIFY`), node registration and
//! heartbeats, and each node's own key-fetch status per server.
//!
//! The version is bumped by database triggers (migration 0004) in the same transaction as the
//! change, so a node that has read version `v` and then the configuration has seen at least
//! everything committed up to `v`.

use sqlx::Row;

use crate::{Backend, Store, StoreError, now_ms};

/// The channel configuration changes are announced on (payload: the new version).
pub const CONFIG_CHANNEL: &str = "portcullis_config";

/// A node as it registered itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Stable node id (`PORTCULLIS_NODE_ID`, or host and port).
    pub id: String,
    /// Where the node listens.
    pub address: String,
    /// The node's software version.
    pub software_version: String,
    /// When the node process started (Unix ms).
    pub started_at: i64,
    /// Its last heartbeat (Unix ms).
    pub heartbeat_at: i64,
    /// The configuration version it has applied.
    pub config_version: i64,
}

/// One node's view of one server's key fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKeyStatus {
    /// The node.
    pub node_id: String,
    /// The server.
    pub server_id: String,
    /// Its last successful fetch on this node (Unix ms).
    pub last_successful_fetch_at: Option<i64>,
    /// Its last fetch attempt on this node (Unix ms).
    pub last_fetch_attempt_at: i64,
    /// The last attempt's error, if it failed.
    pub last_fetch_error: Option<String>,
}

/// Notifications of configuration changes (PostgreSQL only).
pub struct ConfigListener {
    listener: sqlx::postgres::PgListener,
}

impl std::fmt::Debug for ConfigListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigListener").finish_non_exhaustive()
    }
}

/// What the listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigEvent {
    /// The configuration is now at this version.
    Changed(i64),
    /// The connection was lost and re-established: notifications may have been missed.
    Reconnected,
    /// Some admin's sessions changed (ended or renamed): the `session_changes` row with this seq
    /// was committed (see [`crate::SESSIONS_CHANNEL`]).
    SessionsChanged(i64),
}

impl ConfigListener {
    /// Waits for the next change. A lost connection is re-established here and reported as
    /// [`ConfigEvent::Reconnected`] (the caller must catch up); an error means it could not be.
    pub async fn next(&mut self) -> Result<ConfigEvent, StoreError> {
        match self.listener.try_recv().await? {
            Some(notification) if notification.channel() == crate::SESSIONS_CHANNEL => Ok(
                ConfigEvent::SessionsChanged(notification.payload().parse().unwrap_or(i64::MAX)),
            ),
            Some(notification) => Ok(ConfigEvent::Changed(
                notification.payload().parse().unwrap_or(i64::MAX),
            )),
            None => Ok(ConfigEvent::Reconnected),
        }
    }
}

impl Store {
    /// The current configuration version.
    pub async fn config_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT version FROM config_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Subscribes to configuration changes and session changes
    /// ([`ConfigEvent::SessionsChanged`]): `Some` on PostgreSQL, `None` on SQLite (one process;
    /// the periodic version check covers anything else).
    pub async fn listen_config(&self) -> Result<Option<ConfigListener>, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener
            .listen_all([CONFIG_CHANNEL, crate::SESSIONS_CHANNEL])
            .await?;
        Ok(Some(ConfigListener { listener }))
    }

    /// Registers or refreshes this node's row (start-up and every heartbeat).
    pub async fn heartbeat_node(&self, node: &NodeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cluster_nodes (id, address, software_version, started_at, heartbeat_at, config_version) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET address = excluded.address, \
             software_version = excluded.software_version, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, config_version = excluded.config_version",
        )
        .bind(&node.id)
        .bind(&node.address)
        .bind(&node.software_version)
        .bind(node.started_at)
        .bind(node.heartbeat_at)
        .bind(node.config_version)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every registered node whose last heartbeat is newer than `since_ms`, by id.
    pub async fn list_nodes(&self, since_ms: i64) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, address, software_version, started_at, heartbeat_at, config_version \
             FROM cluster_nodes WHERE heartbeat_at >= $1 ORDER BY id",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NodeRecord {
                    id: row.try_get(0)?,
                    address: row.try_get(1)?,
                    software_version: row.try_get(2)?,
                    started_at: row.try_get(3)?,
                    heartbeat_at: row.try_get(4)?,
                    config_version: row.try_get(5)?,
                })
            })
            .collect()
    }

    /// Records one node's fetch of one server's keys.
    pub async fn record_node_fetch(
        &self,
        node_id: &str,
        org: i64,
        server_id: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let success = error.is_none().then_some(now);
        sqlx::query(
            "INSERT INTO node_key_status (node_id, org_id, server_id, last_successful_fetch_at, last_fetch_attempt_at, last_fetch_error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (node_id, server_id) DO UPDATE SET \
             last_successful_fetch_at = COALESCE(excluded.last_successful_fetch_at, node_key_status.last_successful_fetch_at), \
             last_fetch_attempt_at = excluded.last_fetch_attempt_at, last_fetch_error = excluded.last_fetch_error",
        )
        .bind(node_id)
        .bind(org)
        .bind(server_id)
        .bind(success)
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every node's key status for the servers of `org` that still exist.
    pub async fn list_node_key_status(&self, org: i64) -> Result<Vec<NodeKeyStatus>, StoreError> {
        let rows = sqlx::query(
            "SELECT k.node_id, k.server_id, k.last_successful_fetch_at, k.last_fetch_attempt_at, k.last_fetch_error \
             FROM node_key_status k JOIN authorization_servers s ON s.id = k.server_id AND s.org_id = k.org_id \
             WHERE k.org_id = $1 ORDER BY k.node_id, k.server_id",
        )
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(NodeKeyStatus {
                    node_id: row.try_get(0)?,
                    server_id: row.try_get(1)?,
                    last_successful_fetch_at: row.try_get(2)?,
                    last_fetch_attempt_at: row.try_get(3)?,
                    last_fetch_error: row.try_get(4)?,
                })
            })
            .collect()
    }
}

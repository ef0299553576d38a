//! Cluster mode (DESIGN.md §4): many stateless nodes over one PostgreSQL database.
//!
//! How a change made on one node reaches the others:
//! 1. the writer's transaction bumps the configuration version (database trigger) and, on
//!    PostgreSQL, `NOTIFY portcullis_config '<version>'` is delivered at commit;
//! 2. every node `LISTEN`s and rebuilds its snapshot when a version newer than the one it
//!    applied arrives (typically milliseconds);
//! 3. every node also reads the version every `config_poll` (1 s): a lost notification, a
//!    dropped listener connection or SQLite costs at most one poll interval.
//!
//! A snapshot is built from one read of the configuration and swapped in whole, so a node never
//! serves a mix of two configurations for one server. While the database is unreachable a node
//! keeps deciding from its current snapshot and keys; listener reconnects back off up to 10 s,
//! and after a reconnect the node catches up at once.
//!
//! Nodes heartbeat their id, address, version, start time and applied configuration version
//! every [`HEARTBEAT`]; `GET /api/v1/cluster/nodes` lists them with their own key-fetch status.

use std::sync::atomic::Ordering;
use std::time::Duration;

use portcullis_store::{ConfigEvent, NodeRecord, now_ms};

use crate::runtime::{PERIODIC_REBUILD, rebuild_or_log};
use crate::state::AppState;

/// How often a node writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node whose last heartbeat is older than this is shown as unreachable.
pub const NODE_STALE_AFTER: Duration = Duration::from_secs(10);
/// Nodes silent for longer than this are no longer listed.
pub const NODE_FORGOTTEN_AFTER: Duration = Duration::from_secs(24 * 3600);

const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Starts the configuration sync and heartbeat tasks.
pub fn spawn(state: AppState) {
    let poller = state.clone();
    tokio::spawn(async move { poll_versions(poller).await });
    let listener = state.clone();
    tokio::spawn(async move { listen(listener).await });
    tokio::spawn(async move { heartbeat(state).await });
}

/// Rebuilds when the stored version moved past the applied one; also rebuilds every
/// [`PERIODIC_REBUILD`] regardless (keys persisted by other nodes are adopted then).
async fn poll_versions(state: AppState) {
    let mut tick = tokio::time::interval(state.settings.config_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_full = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        if last_full.elapsed() >= PERIODIC_REBUILD {
            last_full = tokio::time::Instant::now();
            rebuild_or_log(&state).await;
            continue;
        }
        match state.store.config_version().await {
            Ok(version) if version > state.applied_config_version.load(Ordering::SeqCst) => {
                tracing::debug!(version, "configuration changed (version check)");
                rebuild_or_log(&state).await;
            }
            Ok(_) => {}
            Err(err) => {
                state
                    .metrics
                    .snapshot_rebuild_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%err, "configuration version check failed; keeping the current configuration");
            }
        }
    }
}

/// Follows `NOTIFY`s (PostgreSQL). Returns at once on SQLite.
async fn listen(state: AppState) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut listener = match state.store.listen_config().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(%err, retry_in_ms = backoff.as_millis() as u64, "cannot listen for configuration changes; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        // Whatever happened while not listening is caught up now.
        rebuild_or_log(&state).await;
        loop {
            match listener.next().await {
                Ok(ConfigEvent::Changed(version)) => {
                    if version > state.applied_config_version.load(Ordering::SeqCst) {
                        tracing::debug!(version, "configuration changed (notification)");
                        rebuild_or_log(&state).await;
                    }
                }
                Ok(ConfigEvent::Reconnected) => {
                    tracing::info!("configuration listener reconnected; catching up");
                    rebuild_or_log(&state).await;
                }
                Err(err) => {
                    tracing::warn!(%err, "configuration listener lost its connection");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
    }
}

/// This node's registration row, as of now.
pub fn node_record(state: &AppState) -> NodeRecord {
    NodeRecord {
        id: state.settings.node_id.clone(),
        address: state.settings.node_address.clone(),
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: state.started_at_ms,
        heartbeat_at: now_ms(),
        config_version: state.applied_config_version.load(Ordering::SeqCst),
    }
}

async fn heartbeat(state: AppState) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if let Err(err) = state.store.heartbeat_node(&node_record(&state)).await {
            tracing::debug!(%err, "heartbeat not written (store unreachable)");
        }
    }
}

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
//! Session changes travel the same way, on their own channel: a password or role change, a
//! delete or an API key change ends sessions in the store and appends a `session_changes` row in
//! the same transaction; every node follows those rows (on `NOTIFY portcullis_sessions`, and on
//! every `config_poll` as the fallback) and drops the legacy sessions it cached for that admin
//! (or org). Portal sessions and the cloud service API read the store on every request and need
//! no cache drop: there a change is effective on every node as soon as it commits.
//!
//! Nodes heartbeat their id, address, version, start time and applied configuration version
//! every [`HEARTBEAT`]; `GET /api/v1/cluster/nodes` lists them with their own key-fetch status.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use portcullis_store::{ConfigEvent, NodeRecord, StoreError, now_ms};

use crate::Runtime;
use crate::rebuild::{PERIODIC_REBUILD, rebuild_or_log};

/// How often a node writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node whose last heartbeat is older than this is shown as unreachable.
pub const NODE_STALE_AFTER: Duration = Duration::from_secs(10);
/// Nodes silent for longer than this are no longer listed.
pub const NODE_FORGOTTEN_AFTER: Duration = Duration::from_secs(24 * 3600);

const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Most session changes applied one by one in a catch-up; past it the whole cache is dropped.
const SESSION_CHANGES_BATCH: i64 = 1_000;

/// Starts the configuration sync, session sync and heartbeat tasks.
pub fn spawn(runtime: Arc<Runtime>) {
    let sessions = SessionFollower::new();
    let poller = Arc::clone(&runtime);
    let poll_sessions = sessions.clone();
    tokio::spawn(async move { poll_versions(poller, poll_sessions).await });
    let listener = Arc::clone(&runtime);
    tokio::spawn(async move { listen(listener, sessions).await });
    tokio::spawn(async move { heartbeat(runtime).await });
}

/// The position of this node in the store's `session_changes`.
#[derive(Debug, Clone)]
pub struct SessionFollower {
    /// The last change applied; negative: none yet (the first catch-up takes the latest as its
    /// starting point and drops the whole cache, which holds nothing older than the start).
    seen: Arc<AtomicI64>,
    /// One catch-up at a time (the poller and the listener may both ask).
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl Default for SessionFollower {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionFollower {
    /// A follower that has applied nothing yet.
    pub fn new() -> Self {
        Self {
            seen: Arc::new(AtomicI64::new(-1)),
            busy: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Applies every session change committed since the last catch-up to this node's legacy
    /// session cache. Called on a `NOTIFY`, after a listener reconnect and on every poll.
    pub async fn catch_up(&self, runtime: &Runtime) -> Result<(), StoreError> {
        let _one = self.busy.lock().await;
        let seen = self.seen.load(Ordering::Acquire);
        if seen < 0 {
            let latest = runtime.store.latest_session_change().await?;
            runtime.legacy_sessions.clear();
            self.seen.store(latest, Ordering::Release);
            return Ok(());
        }
        let changes = runtime
            .store
            .session_changes_since(seen, SESSION_CHANGES_BATCH)
            .await?;
        let Some(last) = changes.last().map(|c| c.seq) else {
            return Ok(());
        };
        if i64::try_from(changes.len()).unwrap_or(i64::MAX) >= SESSION_CHANGES_BATCH {
            // Far behind (a long outage): start over from the latest rather than page through.
            let latest = runtime.store.latest_session_change().await?;
            runtime.legacy_sessions.clear();
            self.seen.store(latest.max(last), Ordering::Release);
            return Ok(());
        }
        for change in &changes {
            match &change.admin_id {
                Some(admin) => runtime.legacy_sessions.forget_admin(admin),
                None => runtime.legacy_sessions.forget_org(change.org_id),
            }
        }
        tracing::debug!(
            changes = changes.len(),
            seq = last,
            "session changes applied"
        );
        self.seen.store(last, Ordering::Release);
        Ok(())
    }

    /// [`SessionFollower::catch_up`], logging a failure (the next poll retries; cached sessions
    /// still revalidate against the store within their own interval).
    async fn catch_up_or_log(&self, runtime: &Runtime) {
        if let Err(err) = self.catch_up(runtime).await {
            tracing::debug!(%err, "session changes not read (store unreachable)");
        }
    }
}

/// Rebuilds when the stored version moved past the applied one; also rebuilds every
/// [`PERIODIC_REBUILD`] regardless (keys persisted by other nodes are adopted then).
async fn poll_versions(runtime: Arc<Runtime>, sessions: SessionFollower) {
    let mut tick = tokio::time::interval(runtime.settings.config_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_full = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        sessions.catch_up_or_log(&runtime).await;
        if last_full.elapsed() >= PERIODIC_REBUILD {
            last_full = tokio::time::Instant::now();
            rebuild_or_log(&runtime).await;
            continue;
        }
        match runtime.store.config_version().await {
            Ok(version) if version > runtime.applied_config_version.load(Ordering::SeqCst) => {
                tracing::debug!(version, "configuration changed (version check)");
                rebuild_or_log(&runtime).await;
            }
            Ok(_) => {}
            Err(err) => {
                runtime
                    .counters
                    .snapshot_rebuild_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%err, "configuration version check failed; keeping the current configuration");
            }
        }
    }
}

/// Follows `NOTIFY`s (PostgreSQL). Returns at once on SQLite.
async fn listen(runtime: Arc<Runtime>, sessions: SessionFollower) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut listener = match runtime.store.listen_config().await {
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
        sessions.catch_up_or_log(&runtime).await;
        rebuild_or_log(&runtime).await;
        loop {
            match listener.next().await {
                Ok(ConfigEvent::Changed(version)) => {
                    if version > runtime.applied_config_version.load(Ordering::SeqCst) {
                        tracing::debug!(version, "configuration changed (notification)");
                        rebuild_or_log(&runtime).await;
                    }
                }
                Ok(ConfigEvent::Reconnected) => {
                    tracing::info!("configuration listener reconnected; catching up");
                    sessions.catch_up_or_log(&runtime).await;
                    rebuild_or_log(&runtime).await;
                }
                Ok(ConfigEvent::SessionsChanged(seq)) => {
                    tracing::debug!(seq, "sessions changed (notification)");
                    sessions.catch_up_or_log(&runtime).await;
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
pub fn node_record(runtime: &Runtime) -> NodeRecord {
    NodeRecord {
        id: runtime.settings.node_id.clone(),
        address: runtime.settings.node_address.clone(),
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: runtime.started_at_ms,
        heartbeat_at: now_ms(),
        config_version: runtime.applied_config_version.load(Ordering::SeqCst),
    }
}

async fn heartbeat(runtime: Arc<Runtime>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if let Err(err) = runtime.store.heartbeat_node(&node_record(&runtime)).await {
            tracing::debug!(%err, "heartbeat not written (store unreachable)");
        }
        crate::decisions::publish(&runtime).await;
    }
}

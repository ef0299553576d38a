//! The live configuration both planes of Portcullis read, and the I/O that keeps it current.
//!
//! What lives here: the configuration [`Snapshot`] in an `ArcSwap` (read without a lock on the
//! hot path) and its rebuild from the store and the key manager ([`rebuild`]); the cluster's
//! configuration and session sync and heartbeats ([`cluster`]); bearer-token validation through
//! the verified-token cache with the unknown-`kid` refetch ([`validate`]); the legacy API-key
//! session cache ([`legacy`]); the counters this crate and token checks update ([`counters`]);
//! the deployment settings both planes read ([`deployment`]); and [`Runtime`], the one struct
//! holding these handles.
//!
//! What does not: HTTP serving, routing, answers, sessions of the portal, CSRF, password
//! hashing, the API's parsing. The data plane (`portcullis-gateway`) and the control plane
//! (`portcullis-control`) both depend on this crate and never on each other.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod cluster;
pub mod cookies;
pub mod counters;
pub mod decisions;
pub mod deployment;
pub mod legacy;
pub mod rebuild;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_keys::fetch::Fetcher;
use portcullis_keys::manager::KeyManager;
use portcullis_policy::VerifiedTokenCache;
use portcullis_policy::snapshot::Snapshot;
use portcullis_store::{OrgSettingsRecord, Store};

pub use rebuild::{rebuild, rebuild_or_log};

/// Starts the background tasks: the key refresh schedule, rebuild on key changes, the cluster's
/// configuration and session sync (notifications + version check), heartbeats.
pub fn spawn(runtime: std::sync::Arc<Runtime>, key_changes: tokio::sync::watch::Receiver<u64>) {
    rebuild::spawn_refresh(std::sync::Arc::clone(&runtime), key_changes);
    cluster::spawn(runtime);
}

use crate::counters::Counters;
use crate::legacy::LegacySessions;

/// SHA-256 of `bytes` as lower-case hex: the stored form of session ids and sandbox tokens.
pub fn sha256_hex(bytes: &[u8]) -> String {
    portcullis_jose::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Size of the verified-token cache.
pub const TOKEN_CACHE_ENTRIES: usize = 100_000;

/// The settings the runtime itself needs.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// This node's id in the cluster (`PORTCULLIS_NODE_ID`, or host and port).
    pub node_id: String,
    /// Where this node listens (shown in the cluster's node list).
    pub node_address: String,
    /// How often the configuration version is checked (the fallback for lost notifications).
    pub config_poll: Duration,
    /// Whether verified tokens are cached (on by default; off = every request fully verified).
    pub token_cache: bool,
    /// Absolute lifetime of legacy sessions from sign-in, however active.
    pub session_max_lifetime: Duration,
    /// Read-only by deployment (`PORTCULLIS_READ_ONLY`): on whatever the org's settings say.
    pub read_only: bool,
    /// The cloud service API's rate limits may apply (`PORTCULLIS_RATE_LIMITS`; `false` switches
    /// them off on this node whatever the org's settings say: tests, the API fuzzer).
    pub rate_limits: bool,
}

/// Why this node refuses writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOnly {
    /// `PORTCULLIS_READ_ONLY` on this node.
    Deployment,
    /// The org's settings (`readOnly`), switched through the API or the portal.
    OrgSettings,
}

impl ReadOnly {
    /// How `/readyz` and the portal name it.
    pub fn source(self) -> &'static str {
        match self {
            ReadOnly::Deployment => "deployment",
            ReadOnly::OrgSettings => "orgSettings",
        }
    }
}

/// The live configuration and the handles that keep it current: exactly what both planes share.
pub struct Runtime {
    /// The configuration database.
    pub store: Store,
    /// This deployment's org.
    pub org: i64,
    /// The runtime's settings.
    pub settings: RuntimeSettings,
    /// Outbound fetcher for JWKS and metadata (SSRF-safe).
    pub fetcher: Arc<Fetcher>,
    /// The key manager (refresh, last-good keys, unknown-kid refetch).
    pub keys: Arc<KeyManager>,
    /// The configuration the hot path reads, swapped atomically on every change.
    pub snapshot: ArcSwap<Snapshot>,
    /// Verified-token cache.
    pub token_cache: VerifiedTokenCache,
    /// Counters for token checks, key fetches and snapshot rebuilds.
    pub counters: Counters,
    /// Access decisions, counted for the dashboard (see [`decisions`]).
    pub decisions: decisions::Decisions,
    /// This node's minute of decisions being counted and written.
    pub decision_book: std::sync::Mutex<decisions::MinuteBook>,
    /// The configuration version the current snapshot reflects (0 = none loaded yet).
    pub applied_config_version: AtomicI64,
    /// When this process started (Unix ms), for the cluster's node list.
    pub started_at_ms: i64,
    /// Legacy API-key sessions in front of the store.
    pub legacy_sessions: LegacySessions,
    /// The org's governance settings (read-only, rate limits), loaded with every rebuild.
    pub org_settings: ArcSwap<OrgSettingsRecord>,
    /// One rebuild at a time: two overlapping rebuilds could finish out of order and publish
    /// the older configuration last (a deleted server trusted again until the next change).
    pub rebuild_lock: tokio::sync::Mutex<()>,
}

impl Runtime {
    /// Whether (and why) writes are refused now: the deployment's flag, else the org's settings
    /// as last loaded (every node reloads them on the configuration version's change).
    pub fn read_only(&self) -> Option<ReadOnly> {
        if self.settings.read_only {
            Some(ReadOnly::Deployment)
        } else if self.org_settings.load().read_only {
            Some(ReadOnly::OrgSettings)
        } else {
            None
        }
    }
}

impl Runtime {
    /// A runtime for `org` with a fresh key manager, an empty snapshot and an empty token cache.
    /// Returns the receiver that ticks when keys change (see [`spawn`]).
    pub fn new(
        store: Store,
        org: i64,
        settings: RuntimeSettings,
        fetcher: Fetcher,
    ) -> (Arc<Self>, tokio::sync::watch::Receiver<u64>) {
        let fetcher = Arc::new(fetcher);
        let (keys, key_changes) = KeyManager::new(store.clone(), org, Arc::clone(&fetcher));
        let legacy_sessions = LegacySessions::new(settings.session_max_lifetime);
        let runtime = Runtime {
            store,
            org,
            settings,
            fetcher,
            keys,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            token_cache: VerifiedTokenCache::new(TOKEN_CACHE_ENTRIES),
            counters: Counters::default(),
            decisions: decisions::Decisions::default(),
            decision_book: std::sync::Mutex::default(),
            applied_config_version: AtomicI64::new(0),
            started_at_ms: portcullis_store::now_ms(),
            legacy_sessions,
            org_settings: ArcSwap::from_pointee(OrgSettingsRecord::default()),
            rebuild_lock: tokio::sync::Mutex::new(()),
        };
        (Arc::new(runtime), key_changes)
    }
}

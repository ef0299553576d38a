//! Shared state of the HTTP server.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_keys::fetch::Fetcher;
use portcullis_keys::manager::KeyManager;
use portcullis_policy::snapshot::Snapshot;
use portcullis_policy::{UrlRules, VerifiedTokenCache};
use portcullis_store::Store;

use crate::metrics::Metrics;
use crate::proxy::Upstreams;

/// Deployment settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The deployment's cloud name (`portcullis.local` by default).
    pub cloud_name: String,
    /// The base URL clients use to reach this deployment (shown by `/api/v1/status`).
    pub public_base_url: String,
    /// `allow_insecure_jwks`: http and loopback JWKS URLs (tests, demos).
    pub allow_insecure_jwks: bool,
    /// Idle timeout of admin sessions.
    pub session_idle: Duration,
    /// Most API roles per org.
    pub max_api_roles: i64,
    /// Most custom admin roles per org.
    pub max_admin_roles: i64,
    /// Whether verified tokens are cached (on by default; off = every request fully verified).
    pub token_cache: bool,
    /// Time allowed to connect to a reverse-proxy upstream.
    pub upstream_connect_timeout: Duration,
    /// Time allowed for a reverse-proxy upstream's response headers (then 504).
    pub upstream_response_timeout: Duration,
}

impl Settings {
    /// Defaults for a deployment reachable at `public_base_url`.
    pub fn new(public_base_url: &str) -> Self {
        Self {
            cloud_name: "portcullis.local".to_owned(),
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            allow_insecure_jwks: false,
            session_idle: Duration::from_secs(30 * 60),
            max_api_roles: 16,
            max_admin_roles: 16,
            token_cache: true,
            upstream_connect_timeout: crate::proxy::DEFAULT_CONNECT_TIMEOUT,
            upstream_response_timeout: crate::proxy::DEFAULT_RESPONSE_TIMEOUT,
        }
    }

    /// URL rules for admin-entered JWKS and metadata URLs.
    pub fn url_rules(&self) -> UrlRules {
        UrlRules {
            allow_insecure: self.allow_insecure_jwks,
        }
    }

    /// Whether cookies must carry `Secure` (served over TLS, directly or behind a TLS proxy).
    pub fn secure_cookies(&self) -> bool {
        self.public_base_url.starts_with("https://")
    }
}

/// Everything a handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The configuration database.
    pub store: Store,
    /// This deployment's org.
    pub org: i64,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Outbound fetcher for JWKS and metadata (SSRF-safe).
    pub fetcher: Arc<Fetcher>,
    /// The key manager (refresh, last-good keys, unknown-kid refetch).
    pub keys: Arc<KeyManager>,
    /// The configuration the hot path reads, swapped atomically on every change.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Verified-token cache.
    pub token_cache: Arc<VerifiedTokenCache>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The reverse proxy's upstream client.
    pub upstreams: Arc<Upstreams>,
}

/// Size of the verified-token cache.
pub const TOKEN_CACHE_ENTRIES: usize = 100_000;

impl AppState {
    /// State for `org` with a fresh key manager, an empty snapshot and an empty token cache.
    /// Returns the receiver that ticks when keys change (see [`crate::runtime::spawn`]).
    pub fn new(
        store: Store,
        org: i64,
        settings: Settings,
        fetcher: Fetcher,
    ) -> (Self, tokio::sync::watch::Receiver<u64>) {
        let fetcher = Arc::new(fetcher);
        let upstreams = Arc::new(Upstreams::new(
            settings.upstream_connect_timeout,
            settings.upstream_response_timeout,
        ));
        let (keys, key_changes) = KeyManager::new(store.clone(), org, Arc::clone(&fetcher));
        let state = AppState {
            store,
            org,
            settings: Arc::new(settings),
            fetcher,
            keys,
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            token_cache: Arc::new(VerifiedTokenCache::new(TOKEN_CACHE_ENTRIES)),
            metrics: Arc::new(Metrics::default()),
            upstreams,
        };
        (state, key_changes)
    }
}

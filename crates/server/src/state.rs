//! Shared state of the HTTP server.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_keys::fetch::Fetcher;
use portcullis_keys::manager::KeyManager;
use portcullis_policy::snapshot::Snapshot;
use portcullis_policy::{UrlRules, VerifiedTokenCache};
use portcullis_store::Store;

use crate::legacy::LegacySessions;
use crate::metrics::Metrics;
use crate::proxy::Upstreams;
use crate::ratelimit::RateLimiter;
use crate::secrets::SecretKey;

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
    /// Absolute lifetime of every session, portal and legacy, from sign-in however active
    /// (`PORTCULLIS_SESSION_MAX_LIFETIME`; 12 hours).
    pub session_max_lifetime: Duration,
    /// Most API roles per org.
    pub max_api_roles: i64,
    /// Most custom admin roles per org.
    pub max_admin_roles: i64,
    /// This node's id in the cluster (`PORTCULLIS_NODE_ID`, or host and port).
    pub node_id: String,
    /// Where this node listens (shown in the cluster's node list).
    pub node_address: String,
    /// How often the configuration version is checked (the fallback for lost notifications).
    pub config_poll: Duration,
    /// Whether verified tokens are cached (on by default; off = every request fully verified).
    pub token_cache: bool,
    /// Time allowed to connect to a reverse-proxy upstream.
    pub upstream_connect_timeout: Duration,
    /// Time allowed for a reverse-proxy upstream's response headers (then 504).
    pub upstream_response_timeout: Duration,
    /// Idle timeout of legacy API-key sessions (`JSESSIONID`; DESIGN.md §1.4: 5 minutes).
    pub legacy_session_idle: Duration,
    /// The key that encrypts secrets at rest (the Cloud Service API Key). `None`: the features
    /// that need it answer 503 instead of storing secrets unencrypted (fail closed).
    pub secret_key: Option<Arc<SecretKey>>,
    /// Sandbox API requests per second per client address, sustained.
    pub sandbox_rate_per_s: f64,
    /// Sandbox API requests per client address at once.
    pub sandbox_burst: u32,
    /// Which header family describes the original request at `/authz` (`PORTCULLIS_FORWARD_AUTH`).
    pub forward_auth: crate::trust::ForwardAuthMode,
    /// Proxies whose `X-Forwarded-*` headers are believed (`PORTCULLIS_TRUSTED_PROXIES`).
    pub trusted_proxies: crate::trust::TrustedProxies,
}

impl Settings {
    /// Defaults for a deployment reachable at `public_base_url`.
    pub fn new(public_base_url: &str) -> Self {
        Self {
            cloud_name: "portcullis.local".to_owned(),
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            allow_insecure_jwks: false,
            session_idle: Duration::from_secs(30 * 60),
            session_max_lifetime: crate::legacy::DEFAULT_MAX_LIFETIME,
            max_api_roles: 16,
            max_admin_roles: 16,
            node_id: "local".to_owned(),
            node_address: public_base_url.trim_end_matches('/').to_owned(),
            config_poll: Duration::from_secs(1),
            token_cache: true,
            upstream_connect_timeout: crate::proxy::DEFAULT_CONNECT_TIMEOUT,
            upstream_response_timeout: crate::proxy::DEFAULT_RESPONSE_TIMEOUT,
            legacy_session_idle: Duration::from_secs(5 * 60),
            secret_key: None,
            sandbox_rate_per_s: 5.0,
            sandbox_burst: 20,
            forward_auth: crate::trust::ForwardAuthMode::Auto,
            trusted_proxies: crate::trust::TrustedProxies::default(),
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
    /// The configuration version the current snapshot reflects (0 = none loaded yet).
    pub applied_config_version: Arc<AtomicI64>,
    /// When this process started (Unix ms), for the cluster's node list.
    pub started_at_ms: i64,
    /// Legacy API-key sessions in front of the store.
    pub legacy_sessions: Arc<LegacySessions>,
    /// Per-client budget of the sandbox API.
    pub sandbox_limiter: Arc<RateLimiter>,
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
        let sandbox_limiter = Arc::new(RateLimiter::new(
            settings.sandbox_rate_per_s,
            settings.sandbox_burst,
        ));
        let legacy_sessions = Arc::new(LegacySessions::new(settings.session_max_lifetime));
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
            applied_config_version: Arc::new(AtomicI64::new(0)),
            started_at_ms: portcullis_store::now_ms(),
            legacy_sessions,
            sandbox_limiter,
        };
        (state, key_changes)
    }
}

//! The composed state: one [`Settings`] for the whole deployment, from which each plane's
//! settings are derived, and [`AppState`], both planes' states over one runtime.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use portcullis_control::{ControlSettings, ControlState};
use portcullis_gateway::{GatewaySettings, GatewayState};
use portcullis_keys::fetch::Fetcher;
use portcullis_policy::UrlRules;
use portcullis_runtime::{Runtime, RuntimeSettings};
use portcullis_store::Store;

use crate::secrets::SecretKey;

/// Deployment settings of both planes (each plane receives only its part).
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
    /// Whether the portal and `/api/v1` have a listener of their own
    /// (`PORTCULLIS_ADMIN_LISTEN`): then the main listener does not serve them and `/` there is
    /// the reverse proxy's or a 404, never a redirect to the portal.
    pub admin_listener: bool,
    /// Read-only whatever the org's settings say (`PORTCULLIS_READ_ONLY`; off).
    pub read_only: bool,
    /// Whether the cloud service API's rate limits apply (`PORTCULLIS_RATE_LIMITS`; on, with the
    /// numbers from the org's settings). The test harness turns them off unless a test opts in.
    pub rate_limits: bool,
}

impl Settings {
    /// Defaults for a deployment reachable at `public_base_url`.
    pub fn new(public_base_url: &str) -> Self {
        Self {
            admin_listener: false,
            read_only: false,
            rate_limits: true,
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

    /// The control plane's part.
    pub fn control(&self) -> ControlSettings {
        ControlSettings {
            cloud_name: self.cloud_name.clone(),
            public_base_url: self.public_base_url.clone(),
            allow_insecure_jwks: self.allow_insecure_jwks,
            session_idle: self.session_idle,
            session_max_lifetime: self.session_max_lifetime,
            max_api_roles: self.max_api_roles,
            max_admin_roles: self.max_admin_roles,
            legacy_session_idle: self.legacy_session_idle,
            secret_key: self.secret_key.clone(),
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// The gateway's part; `/` redirects to the portal's home when both share the listener.
    pub fn gateway(&self) -> GatewaySettings {
        GatewaySettings {
            cloud_name: self.cloud_name.clone(),
            forward_auth: self.forward_auth,
            trusted_proxies: self.trusted_proxies.clone(),
            upstream_connect_timeout: self.upstream_connect_timeout,
            upstream_response_timeout: self.upstream_response_timeout,
            https: self.secure_cookies(),
            legacy_session_idle: self.legacy_session_idle,
            sandbox_rate_per_s: self.sandbox_rate_per_s,
            sandbox_burst: self.sandbox_burst,
            public_base_url: self.public_base_url.clone(),
            root_redirect: (!self.admin_listener)
                .then(|| portcullis_control::portal::HOME.to_owned()),
        }
    }

    /// The runtime's part.
    pub fn runtime(&self) -> RuntimeSettings {
        RuntimeSettings {
            node_id: self.node_id.clone(),
            node_address: self.node_address.clone(),
            config_poll: self.config_poll,
            token_cache: self.token_cache,
            session_max_lifetime: self.session_max_lifetime,
            read_only: self.read_only,
            rate_limits: self.rate_limits,
        }
    }
}

/// Both planes' states over one runtime. Dereferences to the control plane's state (store, org,
/// settings), which is what the binary's start-up steps (first admin, declarative file) take.
#[derive(Clone)]
pub struct AppState {
    /// The control plane's state.
    pub control: ControlState,
    /// The gateway's state.
    pub gateway: GatewayState,
}

impl Deref for AppState {
    type Target = ControlState;

    fn deref(&self) -> &ControlState {
        &self.control
    }
}

impl AppState {
    /// State for `org` with a fresh key manager, an empty snapshot and an empty token cache.
    /// Returns the receiver that ticks when keys change (see [`crate::runtime::spawn`]).
    pub fn new(
        store: Store,
        org: i64,
        settings: Settings,
        fetcher: Fetcher,
    ) -> (Self, tokio::sync::watch::Receiver<u64>) {
        let (runtime, key_changes) = Runtime::new(store, org, settings.runtime(), fetcher);
        let state = AppState {
            control: ControlState::new(Arc::clone(&runtime), settings.control()),
            gateway: GatewayState::new(runtime, settings.gateway()),
        };
        (state, key_changes)
    }
}

//! The control plane's state: the store, the org, its settings, and the shared runtime.

use std::sync::Arc;
use std::time::Duration;

use portcullis_policy::UrlRules;
use portcullis_runtime::Runtime;
use portcullis_store::Store;

use crate::secrets::SecretKey;

/// Deployment settings the control plane needs.
#[derive(Debug, Clone)]
pub struct ControlSettings {
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
    /// Idle timeout of legacy API-key sessions (`JSESSIONID`; DESIGN.md §1.4: 5 minutes).
    pub legacy_session_idle: Duration,
    /// The key that encrypts secrets at rest (the Cloud Service API Key). `None`: the features
    /// that need it answer 503 instead of storing secrets unencrypted (fail closed).
    pub secret_key: Option<Arc<SecretKey>>,
    /// The proxies whose `X-Forwarded-For` is believed: signed-out callers are rate limited by
    /// the client address they vouch for, not by the proxy's (`PORTCULLIS_TRUSTED_PROXIES`).
    pub trusted_proxies: portcullis_runtime::deployment::TrustedProxies,
}

impl ControlSettings {
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

/// Everything a control-plane handler can reach.
#[derive(Clone)]
pub struct ControlState {
    /// The configuration database.
    pub store: Store,
    /// This deployment's org.
    pub org: i64,
    /// Settings.
    pub settings: Arc<ControlSettings>,
    /// The live configuration (snapshot, keys, legacy sessions, counters) shared with the gateway.
    pub runtime: Arc<Runtime>,
    /// The cloud service API's rate limiter (short windows in memory, long ones in the store).
    pub limiter: Arc<crate::limiter::ApiLimiter>,
}

impl ControlState {
    /// State over `runtime` (its store and org) with these settings.
    pub fn new(runtime: Arc<Runtime>, settings: ControlSettings) -> Self {
        Self {
            store: runtime.store.clone(),
            org: runtime.org,
            settings: Arc::new(settings),
            runtime,
            limiter: Arc::default(),
        }
    }
}

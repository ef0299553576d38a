//! Shared state of the HTTP server.

use std::sync::Arc;
use std::time::Duration;

use portcullis_keys::fetch::Fetcher;
use portcullis_policy::UrlRules;
use portcullis_store::Store;

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
}

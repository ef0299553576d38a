//! The key check run by `validate`, create, update and refresh: fetch the keys exactly as the
//! key manager will (metadata, then JWKS, with the server's own TLS settings) through the
//! SSRF-safe fetcher, once, and turn the result into both the admin's report and what the store
//! records (status, last-good JWKS).

use portcullis_keys::validate::{ValidationReport, check_server};
use portcullis_policy::ServerDefinition;
use portcullis_store::FetchOutcome;

use crate::state::ControlState;

/// What a key check found.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    /// The report shown to the admin.
    pub report: ValidationReport,
    /// What to record on the server.
    pub outcome: FetchOutcome,
    /// Issuer found through metadata.
    pub discovered_issuer: Option<String>,
    /// JWKS URL found through metadata.
    pub discovered_jwks_uri: Option<String>,
}

/// Runs the check for `definition`, with its own TLS settings (`verifyTls`, `caBundlePem`): for
/// Validate these are the settings being edited, not the saved ones.
pub async fn check(state: &ControlState, definition: &ServerDefinition) -> KeyCheck {
    let (report, loaded) = check_server(&state.runtime.fetcher, definition).await;
    let outcome = match (&loaded, &report.error) {
        (Some(loaded), _) => FetchOutcome::Success {
            jwks: String::from_utf8_lossy(&loaded.jwks.fetched.body).into_owned(),
            key_ids: loaded.jwks.set.key_ids().map(str::to_owned).collect(),
        },
        (None, Some(error)) => FetchOutcome::Failure {
            error: error.message.clone(),
        },
        (None, None) => FetchOutcome::Failure {
            error: "the key check failed".into(),
        },
    };
    let discovered_issuer = loaded
        .as_ref()
        .and_then(|l| l.discovered.as_ref())
        .map(|d| d.issuer.display());
    let discovered_jwks_uri = loaded
        .as_ref()
        .and_then(|l| l.discovered.as_ref())
        .map(|d| d.jwks_uri.clone());
    KeyCheck {
        report,
        outcome,
        discovered_issuer,
        discovered_jwks_uri,
    }
}

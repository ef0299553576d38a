//! Loading a key set from its source, and the Validate report (DESIGN.md §1.1).
//!
//! [`load_keys`] is what the key manager runs: metadata (if configured) then JWKS, each through
//! the [`Fetcher`], the JWKS parsed by [`JwkSet::parse`]; a set with no usable key is a failed
//! fetch. [`validate_source`] runs the same steps ([`discover_from_metadata_url`],
//! [`fetch_jwks`]) and reports what it found — usable keys, ignored keys with reasons, the
//! discovered issuer, timings — as a serializable [`ValidationReport`] for the API and portal.
//! [`check_server`] is that check for a server definition, through a fetcher with the server's
//! own TLS settings ([`Fetcher::for_server`]).

use std::time::{Duration, Instant};

use portcullis_jose::{IgnoredKey, JwkSet, JwkSetError};
use portcullis_policy::ServerDefinition;
use portcullis_policy::sanitize::untrusted;
use serde::{Deserialize, Serialize};

use crate::discovery::{Discovered, DiscoveryError, discover_from_metadata_url};
use crate::fetch::{Accept, Conditional, FetchError, Fetched, Fetcher, NotModified, Validators};

/// Where a server's keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "url")]
pub enum KeySource {
    /// A JWKS URL (`jwks_uri`).
    Jwks(String),
    /// A metadata URL (`metadata_url`): its `jwks_uri` is used.
    Metadata(String),
}

/// Why a JWKS could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The fetch failed or was refused.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The document is not a JWK Set.
    #[error("the JWKS at `{url}` is unusable: {source}")]
    Parse {
        /// The JWKS URL.
        url: String,
        /// Why.
        source: JwkSetError,
    },
    /// The set parsed but no key in it can verify signatures.
    #[error("the JWKS at `{url}` has no usable signing key{}", summarize_ignored(.ignored))]
    NoUsableKey {
        /// The JWKS URL.
        url: String,
        /// Every key of the set, with why it was ignored.
        ignored: Vec<IgnoredKey>,
    },
}

/// At most this many ignored keys are named in an error message (the report lists them all).
const IGNORED_IN_MESSAGE: usize = 3;

fn summarize_ignored(ignored: &[IgnoredKey]) -> String {
    if ignored.is_empty() {
        return " (the `keys` array is empty)".to_owned();
    }
    let named: Vec<String> = ignored
        .iter()
        .take(IGNORED_IN_MESSAGE)
        .map(|key| {
            let who = key.kid.as_deref().map_or_else(
                || format!("key #{}", key.index),
                |kid| format!("kid `{}`", untrusted(kid)),
            );
            format!("{who}: {}", key.reason)
        })
        .collect();
    let more = ignored.len().saturating_sub(IGNORED_IN_MESSAGE);
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!(" ({} ignored: {}{tail})", ignored.len(), named.join("; "))
}

impl JwksError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            JwksError::Fetch(err) => err.code(),
            JwksError::Parse { .. } => "jwks_invalid",
            JwksError::NoUsableKey { .. } => "no_usable_key",
        }
    }
}

/// Why loading a server's keys failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Metadata discovery failed.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The JWKS failed.
    #[error(transparent)]
    Jwks(#[from] JwksError),
}

impl LoadError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::Discovery(err) => err.code(),
            LoadError::Jwks(err) => err.code(),
        }
    }
}

/// A JWKS fetched and parsed, with at least one usable key.
#[derive(Debug)]
pub struct FetchedJwks {
    /// The parsed set.
    pub set: JwkSet,
    /// The raw answer (body for last-good persistence, cache validators, timings).
    pub fetched: Fetched,
}

/// Outcome of a conditional JWKS fetch.
#[derive(Debug)]
pub enum JwksUpdate {
    /// A new, usable set.
    Modified(FetchedJwks),
    /// The set held by the caller is current.
    NotModified(NotModified),
}

/// Fetches and parses a JWKS; a set without a usable key is an error.
pub async fn fetch_jwks(fetcher: &Fetcher, url: &str) -> Result<FetchedJwks, JwksError> {
    let fetched = fetcher.get_json(url, Accept::JwkSet).await?;
    parse_jwks(url, fetched)
}

/// Like [`fetch_jwks`], sending `validators` from the last good fetch.
pub async fn fetch_jwks_if_modified(
    fetcher: &Fetcher,
    url: &str,
    validators: &Validators,
) -> Result<JwksUpdate, JwksError> {
    match fetcher
        .get_json_if_modified(url, Accept::JwkSet, validators)
        .await?
    {
        Conditional::Modified(fetched) => parse_jwks(url, fetched).map(JwksUpdate::Modified),
        Conditional::NotModified(not_modified) => Ok(JwksUpdate::NotModified(not_modified)),
    }
}

fn parse_jwks(url: &str, fetched: Fetched) -> Result<FetchedJwks, JwksError> {
    let set = JwkSet::parse(&fetched.body).map_err(|source| JwksError::Parse {
        url: untrusted(url),
        source,
    })?;
    if !set.has_usable_key() {
        return Err(JwksError::NoUsableKey {
            url: untrusted(url),
            ignored: set.ignored().to_vec(),
        });
    }
    Ok(FetchedJwks { set, fetched })
}

/// A server's keys, loaded as the key manager loads them.
#[derive(Debug)]
pub struct LoadedKeys {
    /// The key set and its raw answer.
    pub jwks: FetchedJwks,
    /// The metadata found, when the source was a metadata URL.
    pub discovered: Option<Discovered>,
}

/// Loads a server's keys: metadata first when configured (checked against `expected_issuer`,
/// the configured issuer, when given), then the JWKS.
pub async fn load_keys(
    fetcher: &Fetcher,
    source: &KeySource,
    expected_issuer: Option<&str>,
) -> Result<LoadedKeys, LoadError> {
    let (jwks_uri, discovered) = match source {
        KeySource::Jwks(url) => (url.clone(), None),
        KeySource::Metadata(url) => {
            let found = discover_from_metadata_url(fetcher, url, expected_issuer).await?;
            (found.jwks_uri.clone(), Some(found))
        }
    };
    let jwks = fetch_jwks(fetcher, &jwks_uri).await?;
    Ok(LoadedKeys { jwks, discovered })
}

/// A usable key, as reported.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedKey {
    /// The `kid`, if any.
    pub kid: Option<String>,
    /// `RSA`, `EC` or `OKP`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kty: &'static str,
    /// The algorithm the key is bound to (its `alg`, or implied by its curve), if any.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub alg: Option<&'static str>,
    /// Size or curve: `RSA 2048`, `EC P-256`, `OKP Ed25519`.
    pub params: String,
    /// The key's own `issuer` member (Entra v2), if any.
    pub issuer: Option<String>,
}

/// The usable keys of `set`, as reported (Validate, and the portal's page of a server).
pub fn reported_keys(set: &JwkSet) -> Vec<ReportedKey> {
    set.keys()
        .iter()
        .map(|jwk| {
            let params = jwk.key.params();
            ReportedKey {
                kid: jwk.kid.clone(),
                kty: params.kty(),
                alg: jwk.key.pinned_alg().map(|alg| alg.name()),
                params: params.describe(),
                issuer: jwk.issuer.clone(),
            }
        })
        .collect()
}

/// An ignored key, as reported.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedIgnoredKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The `kid`, if usable.
    pub kid: Option<String>,
    /// The `kty`, if present.
    pub kty: Option<String>,
    /// Why it is not used.
    pub reason: String,
}

/// The failure of a validation, as reported.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedError {
    /// Stable code (`forbidden_address`, `issuer_mismatch`, `no_usable_key`, ...).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub code: &'static str,
    /// Admin-facing explanation.
    pub message: String,
}

/// What Validate found (the body of `POST /api/v1/authorizationServers/validate`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// True when the source yields at least one usable key.
    pub ok: bool,
    /// The metadata URL, when the source was one.
    pub metadata_url: Option<String>,
    /// The JWKS URL fetched (given, or from the metadata).
    pub jwks_uri: Option<String>,
    /// The issuer declared by the metadata (template form for Entra multi-tenant).
    pub discovered_issuer: Option<String>,
    /// Whether `discovered_issuer` is a `{tenantid}` template.
    pub issuer_is_template: bool,
    /// Keys that will be used.
    pub usable_keys: Vec<ReportedKey>,
    /// Keys that will not be used, and why.
    pub ignored_keys: Vec<ReportedIgnoredKey>,
    /// When the validation started (RFC 3339, UTC).
    pub fetched_at: String,
    /// Time spent fetching the metadata, in milliseconds.
    pub metadata_fetch_ms: Option<u64>,
    /// Time spent fetching the JWKS, in milliseconds.
    pub jwks_fetch_ms: Option<u64>,
    /// Total time, in milliseconds.
    pub duration_ms: u64,
    /// `Cache-Control: max-age` of the JWKS answer, in seconds (before the refresh bounds).
    pub cache_max_age_s: Option<u64>,
    /// Why the source is not usable, when `ok` is false.
    pub error: Option<ReportedError>,
}

impl ValidationReport {
    /// A report of a check that could not run at all (no key source, or it did not complete),
    /// with every member present like any other report.
    pub fn failure(code: &'static str, message: String) -> Self {
        ValidationReport {
            ok: false,
            metadata_url: None,
            jwks_uri: None,
            discovered_issuer: None,
            issuer_is_template: false,
            usable_keys: Vec::new(),
            ignored_keys: Vec::new(),
            fetched_at: now_rfc3339(),
            metadata_fetch_ms: None,
            jwks_fetch_ms: None,
            duration_ms: 0,
            cache_max_age_s: None,
            error: Some(ReportedError { code, message }),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn ignored_report(ignored: &[IgnoredKey]) -> Vec<ReportedIgnoredKey> {
    ignored
        .iter()
        .map(|key| ReportedIgnoredKey {
            index: key.index,
            kid: key.kid.clone(),
            kty: key.kty.clone(),
            reason: key.reason.to_string(),
        })
        .collect()
}

impl ValidationReport {
    /// A report with nothing found yet, stamped now.
    fn started() -> ValidationReport {
        ValidationReport {
            ok: false,
            metadata_url: None,
            jwks_uri: None,
            discovered_issuer: None,
            issuer_is_template: false,
            usable_keys: Vec::new(),
            ignored_keys: Vec::new(),
            fetched_at: now_rfc3339(),
            metadata_fetch_ms: None,
            jwks_fetch_ms: None,
            duration_ms: 0,
            cache_max_age_s: None,
            error: None,
        }
    }

    /// A report for a check that failed before anything was fetched.
    pub fn failed_before_fetch(code: &'static str, message: String) -> ValidationReport {
        ValidationReport {
            error: Some(ReportedError { code, message }),
            ..ValidationReport::started()
        }
    }
}

impl KeySource {
    /// Where `definition`'s keys come from: the metadata URL when given (it also yields the
    /// issuer), else the JWKS URL; `None` when neither is configured.
    pub fn of(definition: &ServerDefinition) -> Option<KeySource> {
        match (&definition.metadata_url, &definition.jwks_uri) {
            (Some(metadata), _) => Some(KeySource::Metadata(metadata.clone())),
            (None, Some(jwks)) => Some(KeySource::Jwks(jwks.clone())),
            (None, None) => None,
        }
    }
}

/// The key check of one server definition, as Validate, create, update and refresh run it:
/// [`check_source`] over the definition's key source, through a fetcher with the definition's
/// own TLS settings ([`Fetcher::for_server`]: `verify_tls`, extra CA bundle), with its issuer
/// as the expected one. No key source (`no_key_source`) or an unusable CA bundle
/// (`ca_bundle_invalid`) fails the check before anything is fetched.
pub async fn check_server(
    fetcher: &Fetcher,
    definition: &ServerDefinition,
) -> (ValidationReport, Option<LoadedKeys>) {
    let Some(source) = KeySource::of(definition) else {
        let report = ValidationReport::failed_before_fetch(
            "no_key_source",
            "no JWKS URL or metadata URL configured".into(),
        );
        return (report, None);
    };
    let fetcher = match fetcher.for_server(definition) {
        Ok(fetcher) => fetcher,
        Err(err) => {
            let report = ValidationReport::failed_before_fetch(err.code(), err.to_string());
            return (report, None);
        }
    };
    check_source(&fetcher, source, definition.issuer.as_deref()).await
}

/// Validates a key source as the key manager would load it (no expected issuer: a metadata
/// URL must then be a well-known URL).
pub async fn validate_source(fetcher: &Fetcher, source: KeySource) -> ValidationReport {
    validate_source_with_issuer(fetcher, source, None).await
}

/// Validates a key source; `expected_issuer` is the server's configured issuer, used for the
/// metadata mix-up check.
pub async fn validate_source_with_issuer(
    fetcher: &Fetcher,
    source: KeySource,
    expected_issuer: Option<&str>,
) -> ValidationReport {
    check_source(fetcher, source, expected_issuer).await.0
}

/// Validates a key source and, when it is usable, also returns the loaded keys, so a caller
/// that saves the server (create, update, refresh) fetches once and keeps exactly what the
/// admin was shown.
pub async fn check_source(
    fetcher: &Fetcher,
    source: KeySource,
    expected_issuer: Option<&str>,
) -> (ValidationReport, Option<LoadedKeys>) {
    let started = Instant::now();
    let mut discovered: Option<Discovered> = None;
    let mut report = ValidationReport::started();
    let fail = |report: &mut ValidationReport, code: &'static str, message: String| {
        report.error = Some(ReportedError { code, message });
        report.duration_ms = millis(started.elapsed());
    };

    let jwks_uri = match source {
        KeySource::Jwks(url) => url,
        KeySource::Metadata(url) => {
            report.metadata_url = Some(url.clone());
            match discover_from_metadata_url(fetcher, &url, expected_issuer).await {
                Ok(found) => {
                    discovered = Some(found.clone());
                    report.discovered_issuer = Some(found.issuer.display());
                    report.issuer_is_template = matches!(
                        found.issuer,
                        portcullis_policy::issuer::IssuerPattern::TenantTemplate { .. }
                    );
                    report.metadata_fetch_ms = Some(millis(found.duration));
                    found.jwks_uri
                }
                Err(err) => {
                    fail(&mut report, err.code(), err.to_string());
                    return (report, None);
                }
            }
        }
    };
    report.jwks_uri = Some(jwks_uri.clone());

    match fetch_jwks(fetcher, &jwks_uri).await {
        Ok(jwks) => {
            let FetchedJwks { set, fetched } = &jwks;
            report.ok = true;
            report.jwks_fetch_ms = Some(millis(fetched.duration));
            report.cache_max_age_s = fetched.cache.max_age.map(|d| d.as_secs());
            report.usable_keys = reported_keys(set);
            report.ignored_keys = ignored_report(set.ignored());
            report.duration_ms = millis(started.elapsed());
            (report, Some(LoadedKeys { jwks, discovered }))
        }
        Err(err) => {
            if let JwksError::NoUsableKey { ignored, .. } = &err {
                report.ignored_keys = ignored_report(ignored);
            }
            fail(&mut report, err.code(), err.to_string());
            (report, None)
        }
    }
}

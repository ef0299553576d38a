//! Declarative configuration (GitOps, DESIGN.md §4): `portcullis serve --config FILE` reads a TOML
//! file that declares authorization servers, API roles and routes and applies it at start-up,
//! before the server listens.
//!
//! The file uses the JSON API's field names in snake_case (`docs/portcullis.example.toml`):
//!
//! ```toml
//! [[authorization_servers]]
//! name = "okta-prod"
//! preset = "okta"
//! jwks_uri = "https://acme.okta.com/oauth2/default/v1/keys"
//! issuer = "https://acme.okta.com/oauth2/default"
//! audiences = ["api://portcullis"]
//!
//! [[api_roles]]
//! name = "automation"
//! [api_roles.permissions]
//! authorization_servers = "full"
//! audit_logs = "view_only"
//!
//! [[routes]]
//! name = "orders"
//! upstream = "http://orders.internal:8080"
//! match = { path_prefix = "/orders", methods = ["GET", "POST"] }
//! [routes.policy]
//! servers = ["okta-prod"]
//! scopes = { all_of = ["orders:read"] }
//! claims = [{ path = "tenant", op = "equals", value = "acme" }]
//! forward_claims = { X-Auth-Subject = "sub", X-Tenant = "tenant" }
//! ```
//!
//! Keys of struct-shaped tables (`match`, `policy`, `policy.scopes`, each of `policy.claims`,
//! `permissions`) are snake_case fields converted to the API's camelCase; data tables keep their
//! keys as written (`forward_claims` header names, a claim rule's `value`).
//!
//! Rules:
//! - **Validate everything first.** Every entry is parsed into the API's own input types
//!   ([`ServerInput`], [`RoleInput`], [`RouteDefinition`], which refuse unknown fields) and checked
//!   with the same `field_errors` as the API, and the org limits are checked against the resulting state,
//!   before anything is written. One bad entry means nothing is applied; the error lists every
//!   problem found (file, line, entry, field, message).
//! - **Matched by name; idempotent.** A declared entry that does not exist is created; one whose
//!   resolved definition equals the stored one is left untouched (no write, no audit entry); one
//!   that differs is updated (one audit entry with before/after). Applying the same file twice
//!   changes nothing the second time.
//! - **Not declared = left alone.** Servers, roles and routes that exist in the store but not in
//!   the file are neither changed nor deleted: the file declares what must exist, it does not own
//!   the org (entries made through the API or the portal survive a restart; deleting is done
//!   there).
//! - **Key check as in the API**, but an authorization server whose keys cannot be fetched (IdP
//!   down) is saved anyway with `last_fetch_error` recorded and a warning: this is DESIGN.md's
//!   `skipValidation` case for declarative configuration, so that a restart during an IdP outage
//!   does not keep the gateway down. Servers whose checks read the same inputs (key source, TLS
//!   settings, and the issuer when keys come through metadata) share one check, so a file of
//!   many servers of one IdP fetches its keys once.
//! - **Audited** as actor `config` through interface `Config`.
//! - Each entry is written in its own store transaction (the store's API has no multi-entry
//!   transaction). If the store fails midway (database down), the entries written so far stay
//!   and the error says which; applying is idempotent, so starting again completes the rest.
//!   Several nodes starting with the same file at once converge: a conflict with a concurrent
//!   writer is resolved by reading the entry again and re-deciding.
//! - **Routes as in the API**: a route policy's `servers` are names, not checked against the
//!   declared or stored servers (the API does not check them either; an unknown name accepts no
//!   token). Routes are written after servers and roles.

use std::fmt;
use std::path::Path;

use portcullis_policy::permissions::RoleInput;
use portcullis_policy::routes::RouteDefinition;
use portcullis_policy::{ServerDefinition, UrlRules};
use portcullis_store::StoreError;
use serde::Serialize;

use crate::state::ControlState;

mod apply;
mod entry;
mod parse;
pub mod plan;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use parse::{parse, parse_network};
pub use plan::Plan;

/// The audit actor of changes made by the config file.
pub const ACTOR: &str = "config";

/// One problem found in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The file, as given.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The entry, e.g. `authorization_servers #2 "okta-prod"`.
    pub entry: Option<String>,
    /// The field (snake_case, as written in the file), e.g. `jwks_uri` or `permissions.routes`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(entry) = &self.entry {
            write!(f, "{entry}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// What kind of resource an entry declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// `[[authorization_servers]]`.
    AuthorizationServer,
    /// `[[api_roles]]`.
    ApiRole,
    /// `[[routes]]`.
    Route,
    /// `[org_settings]` (one per org).
    OrgSettings,
}

impl ResourceKind {
    fn table(self) -> &'static str {
        match self {
            ResourceKind::AuthorizationServer => "authorization_servers",
            ResourceKind::ApiRole => "api_roles",
            ResourceKind::Route => "routes",
            ResourceKind::OrgSettings => "org_settings",
        }
    }
}

/// A declared resource, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its name.
    pub name: String,
}

impl Resource {
    fn server(name: &str) -> Self {
        Self {
            kind: ResourceKind::AuthorizationServer,
            name: name.to_owned(),
        }
    }
    fn role(name: &str) -> Self {
        Self {
            kind: ResourceKind::ApiRole,
            name: name.to_owned(),
        }
    }
    fn route(name: &str) -> Self {
        Self {
            kind: ResourceKind::Route,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ResourceKind::AuthorizationServer => write!(f, "authorization server `{}`", self.name),
            ResourceKind::ApiRole => write!(f, "API role `{}`", self.name),
            ResourceKind::Route => write!(f, "route `{}`", self.name),
            ResourceKind::OrgSettings => write!(f, "org settings"),
        }
    }
}

/// What applying the file did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Created (audited).
    pub created: Vec<Resource>,
    /// Changed (audited, with before/after).
    pub updated: Vec<Resource>,
    /// Declared exactly as stored: not written, not audited.
    pub unchanged: Vec<Resource>,
    /// Applied, but worth an operator's attention (keys not fetched, no audience check).
    pub warnings: Vec<String>,
}

impl ApplyReport {
    /// Whether anything was written.
    pub fn changed_anything(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty()
    }
}

fn names(resources: &[Resource]) -> String {
    resources
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged, {} warning(s)",
            self.created.len(),
            self.updated.len(),
            self.unchanged.len(),
            self.warnings.len()
        )?;
        if !self.created.is_empty() {
            write!(f, "; created: {}", names(&self.created))?;
        }
        if !self.updated.is_empty() {
            write!(f, "; updated: {}", names(&self.updated))?;
        }
        Ok(())
    }
}

/// Why the file was not (completely) applied.
#[derive(Debug)]
pub enum ApplyError {
    /// The file cannot be read.
    Read {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not valid: nothing was applied.
    Invalid {
        /// The file.
        file: String,
        /// Every problem found, in file order.
        problems: Vec<Problem>,
    },
    /// The store failed or refused a write; `report` says what was applied before.
    Store {
        /// The file.
        file: String,
        /// The entry being written, if the failure was not while reading the current state.
        resource: Option<Resource>,
        /// The store's error.
        error: StoreError,
        /// What was applied before the failure.
        report: ApplyReport,
    },
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Read { file, error } => {
                write!(f, "cannot read the config file {file}: {error}")
            }
            ApplyError::Invalid { file, problems } => {
                write!(
                    f,
                    "the config file {file} has {} problem(s); nothing was applied:",
                    problems.len()
                )?;
                for problem in problems {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
            ApplyError::Store {
                file,
                resource,
                error,
                report,
            } => {
                match resource {
                    Some(resource) => {
                        write!(f, "applying {file}: cannot save {resource}: {error}")?
                    }
                    None => write!(
                        f,
                        "applying {file}: cannot read the current configuration: {error}"
                    )?,
                }
                if report.changed_anything() {
                    write!(
                        f,
                        "; applied before the failure: {report} (applying is idempotent: start again to complete it)"
                    )
                } else {
                    write!(f, "; nothing was applied")
                }
            }
        }
    }
}

impl std::error::Error for ApplyError {}

/// A declared authorization server, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredServer {
    /// Line of its `[[authorization_servers]]` header.
    pub line: usize,
    /// How problems name it.
    pub entry: String,
    /// The definition with every default resolved.
    pub definition: ServerDefinition,
}

/// A declared API role, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredRole {
    /// Line of its `[[api_roles]]` header.
    pub line: usize,
    /// How problems name it.
    pub entry: String,
    /// The role.
    pub role: RoleInput,
}

/// A declared route, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredRoute {
    /// Line of its `[[routes]]` header.
    pub line: usize,
    /// How problems name it.
    pub entry: String,
    /// The definition with every default resolved.
    pub definition: RouteDefinition,
}

/// A parsed and validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredConfig {
    /// The file, as given.
    pub file: String,
    /// Declared servers, in file order.
    pub servers: Vec<DeclaredServer>,
    /// Declared API roles, in file order.
    pub roles: Vec<DeclaredRole>,
    /// Declared routes, in file order.
    pub routes: Vec<DeclaredRoute>,
    /// Top-level gateway settings (`forward_auth`, `trusted_proxies`), when the file sets them.
    pub gateway: GatewaySettings,
    /// `[org_settings]` (read-only, rate limits), when the file has it: replaces the stored
    /// settings when they differ (members left out take their defaults).
    pub org_settings: Option<portcullis_policy::governance::OrgSettingsInput>,
}

/// The deployment settings a config file may set beside its resources. An environment variable
/// or flag given for the same setting wins over the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `forward_auth = "auto" | "nginx" | "forwarded" | "envoy"`.
    pub forward_auth: Option<portcullis_runtime::deployment::ForwardAuthMode>,
    /// `trusted_proxies = ["127.0.0.1/32", ...]` (CIDRs).
    pub trusted_proxies: Option<portcullis_runtime::deployment::TrustedProxies>,
    /// `tls_cert` and `tls_key`: the main listener's certificate chain and key files.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

/// Reads only the gateway settings of the config file at `path` (the whole file is validated:
/// an invalid file fails here with all its problems, as it would when applied).
pub fn read_gateway_settings(
    path: &Path,
    rules: UrlRules,
) -> Result<GatewaySettings, Box<ApplyError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ApplyError::Read {
        file: file.clone(),
        error,
    })?;
    parse(&file, &text, rules)
        .map(|config| config.gateway)
        .map_err(|problems| Box::new(ApplyError::Invalid { file, problems }))
}

/// Reads `path`, validates it and applies it to the store. Logs what it did. The caller then
/// rebuilds the configuration snapshot (`runtime::rebuild`; `portcullis serve` applies the file
/// before its first rebuild, so the first request already sees it).
pub async fn apply_file(state: &ControlState, path: &Path) -> Result<ApplyReport, ApplyError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ApplyError::Read {
        file: file.clone(),
        error,
    })?;
    let config = parse(&file, &text, state.settings.url_rules())
        .map_err(|problems| ApplyError::Invalid { file, problems })?;
    let report = apply(state, &config).await?;
    for resource in &report.created {
        tracing::info!(actor = ACTOR, "config: created {resource}");
    }
    for resource in &report.updated {
        tracing::info!(actor = ACTOR, "config: updated {resource}");
    }
    for warning in &report.warnings {
        tracing::warn!("config: {warning}");
    }
    tracing::info!(file = %config.file, "declarative configuration applied: {report}");
    Ok(report)
}

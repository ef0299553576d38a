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
//!   does not keep the gateway down.
//! - **Audited** as actor `config` through interface `Config`.
//! - Each entry is written in its own store transaction (the store's API has no multi-entry
//!   transaction). If the store fails midway (database down), the entries written so far stay
//!   and the error says which; applying is idempotent, so starting again completes the rest.
//!   Several nodes starting with the same file at once converge: a conflict with a concurrent
//!   writer is resolved by reading the entry again and re-deciding.
//! - **Routes as in the API**: a route policy's `servers` are names, not checked against the
//!   declared or stored servers (the API does not check them either; an unknown name accepts no
//!   token). Routes are written after servers and roles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use portcullis_policy::permissions::RoleInput;
use portcullis_policy::routes::RouteDefinition;
use portcullis_policy::{FieldError, ServerDefinition, ServerInput, UrlRules};
use portcullis_store::{
    Actor, Conflict, FetchOutcome, Interface, Limit, LimitedChange, RoleKind, RoleRecord,
    RouteRecord, ServerRecord, StoreError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::api::servers::ANY_AUDIENCE_WARNING;
use crate::keycheck::{self, KeyCheck};
use crate::state::AppState;

/// The audit actor of changes made by the config file.
pub const ACTOR: &str = "config";

/// Key checks run at most this many fetches at once.
const KEY_CHECK_CONCURRENCY: usize = 8;

/// Attempts per entry when a concurrent writer (another node applying the same file) interferes.
const WRITE_ATTEMPTS: usize = 3;

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
}

impl ResourceKind {
    fn table(self) -> &'static str {
        match self {
            ResourceKind::AuthorizationServer => "authorization_servers",
            ResourceKind::ApiRole => "api_roles",
            ResourceKind::Route => "routes",
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
    /// Files one entry's write under what it did, or hands back the store's error.
    fn record(
        &mut self,
        resource: Resource,
        written: Result<Written, StoreError>,
    ) -> Result<(), StoreError> {
        match written? {
            Written::Created => self.created.push(resource),
            Written::Updated => self.updated.push(resource),
            Written::Unchanged => self.unchanged.push(resource),
        }
        Ok(())
    }

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
}

/// The deployment settings a config file may set beside its resources. An environment variable
/// or flag given for the same setting wins over the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `forward_auth = "auto" | "nginx" | "forwarded" | "envoy"`.
    pub forward_auth: Option<crate::trust::ForwardAuthMode>,
    /// `trusted_proxies = ["127.0.0.1/32", ...]` (CIDRs).
    pub trusted_proxies: Option<crate::trust::TrustedProxies>,
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

type RawEntry = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    authorization_servers: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    api_roles: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    routes: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    forward_auth: Option<Spanned<String>>,
    #[serde(default)]
    trusted_proxies: Option<Spanned<Vec<String>>>,
}

/// Which values of an entry are struct-shaped (their keys are snake_case fields, converted to
/// camelCase), by snake_case path from the entry; `[]` stands for every element of an array.
/// Any other table is data and keeps its keys as written.
const SERVER_STRUCTS: &[&str] = &[];
const ROLE_STRUCTS: &[&str] = &["permissions"];
const ROUTE_STRUCTS: &[&str] = &["match", "policy", "policy.scopes", "policy.claims[]"];

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Reads `path`, validates it and applies it to the store. Logs what it did. The caller then
/// rebuilds the configuration snapshot (`runtime::rebuild`; `portcullis serve` applies the file
/// before its first rebuild, so the first request already sees it).
pub async fn apply_file(state: &AppState, path: &Path) -> Result<ApplyReport, ApplyError> {
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

/// Parses and validates a config file's text: every problem is collected, none is fatal to the
/// search for the others. `file` only names the file in problems.
pub fn parse(file: &str, text: &str, rules: UrlRules) -> Result<DeclaredConfig, Vec<Problem>> {
    let raw: RawFile = toml::from_str(text).map_err(|err| {
        vec![Problem {
            file: file.to_owned(),
            line: err.span().map(|span| line_of(text, span.start)),
            entry: None,
            field: None,
            message: err.message().trim_end().to_owned(),
        }]
    })?;
    let mut problems = Vec::new();
    let gateway = gateway_settings(file, text, &raw, &mut problems);

    let mut servers = Vec::new();
    for (index, raw_entry) in raw.authorization_servers.into_iter().enumerate() {
        let mut entry = EntryParser::new(
            file,
            text,
            ResourceKind::AuthorizationServer,
            index,
            &raw_entry,
        );
        let object = entry.json_object(raw_entry.into_inner(), SERVER_STRUCTS);
        if let Some(input) = entry.deserialize::<ServerInput>(object) {
            let definition = input.resolve();
            entry.field_errors(definition.field_errors(rules));
            if entry.problems.is_empty() {
                servers.push(DeclaredServer {
                    line: entry.line,
                    entry: entry.label.clone(),
                    definition,
                });
            }
        }
        problems.append(&mut entry.problems);
    }

    let mut roles = Vec::new();
    for (index, raw_entry) in raw.api_roles.into_iter().enumerate() {
        let mut entry = EntryParser::new(file, text, ResourceKind::ApiRole, index, &raw_entry);
        let object = entry.json_object(raw_entry.into_inner(), ROLE_STRUCTS);
        if let Some(role) = entry.deserialize::<RoleInput>(object) {
            entry.field_errors(role.field_errors());
            if entry.problems.is_empty() {
                roles.push(DeclaredRole {
                    line: entry.line,
                    entry: entry.label.clone(),
                    role,
                });
            }
        }
        problems.append(&mut entry.problems);
    }

    let mut routes = Vec::new();
    let mut route_lines = nested_key_lines(text, ResourceKind::Route.table()).into_iter();
    for (index, raw_entry) in raw.routes.into_iter().enumerate() {
        let mut entry = EntryParser::new(file, text, ResourceKind::Route, index, &raw_entry);
        entry.nested_lines = route_lines.next().unwrap_or_default();
        let object = entry.json_object(raw_entry.into_inner(), ROUTE_STRUCTS);
        if let Some(definition) = entry.deserialize::<RouteDefinition>(object) {
            entry.field_errors(definition.field_errors());
            if entry.problems.is_empty() {
                routes.push(DeclaredRoute {
                    line: entry.line,
                    entry: entry.label.clone(),
                    definition,
                });
            }
        }
        problems.append(&mut entry.problems);
    }

    let mut seen: HashMap<(ResourceKind, &str), usize> = HashMap::new();
    let declared = servers
        .iter()
        .map(|s| {
            (
                ResourceKind::AuthorizationServer,
                s.definition.name.as_str(),
                s.line,
                &s.entry,
            )
        })
        .chain(roles.iter().map(|r| {
            (
                ResourceKind::ApiRole,
                r.role.name.as_str(),
                r.line,
                &r.entry,
            )
        }))
        .chain(routes.iter().map(|r| {
            (
                ResourceKind::Route,
                r.definition.name.as_str(),
                r.line,
                &r.entry,
            )
        }));
    for (kind, name, line, entry) in declared {
        if let Some(&first) = seen.get(&(kind, name)) {
            problems.push(Problem {
                file: file.to_owned(),
                line: Some(line),
                entry: Some(entry.clone()),
                field: Some("name".to_owned()),
                message: format!(
                    "`{name}` is declared twice in [[{}]] (first at line {first})",
                    kind.table()
                ),
            });
        } else {
            seen.insert((kind, name), line);
        }
    }

    if problems.is_empty() {
        Ok(DeclaredConfig {
            file: file.to_owned(),
            servers,
            roles,
            routes,
            gateway,
        })
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// Validates the top-level `forward_auth` and `trusted_proxies` keys.
fn gateway_settings(
    file: &str,
    text: &str,
    raw: &RawFile,
    problems: &mut Vec<Problem>,
) -> GatewaySettings {
    let mut problem = |span: std::ops::Range<usize>, field: &str, message: String| {
        problems.push(Problem {
            file: file.to_owned(),
            line: Some(line_of(text, span.start)),
            entry: None,
            field: Some(field.to_owned()),
            message,
        });
    };
    let forward_auth = raw
        .forward_auth
        .as_ref()
        .and_then(|mode| match mode.get_ref().parse() {
            Ok(mode) => Some(mode),
            Err(message) => {
                problem(mode.span(), "forward_auth", message);
                None
            }
        });
    let trusted_proxies = raw.trusted_proxies.as_ref().and_then(|list| {
        let mut networks = Vec::new();
        for text in list.get_ref() {
            match parse_network(text) {
                Some(net) => networks.push(net),
                None => {
                    problem(
                        list.span(),
                        "trusted_proxies",
                        format!("`{text}` is not an IP address or CIDR (e.g. 10.0.0.0/8)"),
                    );
                    return None;
                }
            }
        }
        Some(crate::trust::TrustedProxies::new(networks))
    });
    GatewaySettings {
        forward_auth,
        trusted_proxies,
    }
}

/// A CIDR, or a single address as its /32 or /128.
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

/// Turns one TOML entry into the API's JSON input, collecting problems with their lines.
struct EntryParser<'a> {
    file: &'a str,
    text: &'a str,
    line: usize,
    label: String,
    /// camelCase top-level key → line.
    key_lines: HashMap<String, usize>,
    /// Line of every nested key, by snake_case path (`match.methods`, `policy.claims[0].op`).
    nested_lines: HashMap<String, usize>,
    /// camelCase field paths already reported (so a field is reported once).
    reported: HashSet<String>,
    problems: Vec<Problem>,
}

impl<'a> EntryParser<'a> {
    fn new(
        file: &'a str,
        text: &'a str,
        kind: ResourceKind,
        index: usize,
        raw: &Spanned<RawEntry>,
    ) -> Self {
        let name = raw
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == "name")
            .and_then(|(_, v)| v.get_ref().as_str());
        let label = match name {
            Some(name) => format!("{} #{} {name:?}", kind.table(), index + 1),
            None => format!("{} #{}", kind.table(), index + 1),
        };
        Self {
            file,
            text,
            line: line_of(text, raw.span().start),
            label,
            key_lines: HashMap::new(),
            nested_lines: HashMap::new(),
            reported: HashSet::new(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, line: usize, field: Option<String>, message: String) {
        self.problems.push(Problem {
            file: self.file.to_owned(),
            line: Some(line),
            entry: Some(self.label.clone()),
            field,
            message,
        });
    }

    /// The line of a field: that of its key, or of its nearest parent's.
    fn line_for(&self, camel_path: &str) -> usize {
        let mut snake = camel_to_snake(camel_path);
        while snake.contains(['.', '[']) {
            if let Some(line) = self.nested_lines.get(&snake) {
                return *line;
            }
            let cut = snake.rfind(['.', '[']).unwrap_or(0);
            snake.truncate(cut);
        }
        let top = camel_path.split(['.', '[']).next().unwrap_or(camel_path);
        self.key_lines.get(top).copied().unwrap_or(self.line)
    }

    /// Converts keys to camelCase (refusing keys that are not snake_case, so `jwksUri` cannot
    /// sneak past as a synonym) and values to JSON. Tables at the paths in `structs` (see
    /// [`ROUTE_STRUCTS`]) are struct-shaped and get their keys converted too; other tables are
    /// data and keep theirs.
    fn json_object(&mut self, raw: RawEntry, structs: &[&str]) -> Map<String, Value> {
        let mut object = Map::new();
        for (key, value) in raw {
            let line = line_of(self.text, key.span().start);
            let key = key.into_inner();
            let Some(camel) = self.field_name(&key, None, line) else {
                continue;
            };
            self.key_lines.insert(camel.clone(), line);
            let value = match to_json(value.into_inner()) {
                Ok(value) => value,
                Err(message) => {
                    self.reported.insert(camel);
                    self.problem(line, Some(key), message);
                    continue;
                }
            };
            let value = self.struct_keys(value, &key, &key, structs, line);
            object.insert(camel, value);
        }
        object
    }

    /// Converts the keys of the struct-shaped tables in `value`, found at `shape` (the path with
    /// `[]` for array elements; `shown` is the same path with indexes, as problems name it).
    fn struct_keys(
        &mut self,
        value: Value,
        shape: &str,
        shown: &str,
        structs: &[&str],
        line: usize,
    ) -> Value {
        match value {
            Value::Object(members) if structs.contains(&shape) => {
                let mut renamed = Map::new();
                for (inner, v) in members {
                    let key_line = self
                        .nested_lines
                        .get(&format!("{shown}.{inner}"))
                        .copied()
                        .unwrap_or(line);
                    if let Some(inner_camel) = self.field_name(&inner, Some(shown), key_line) {
                        let v = self.struct_keys(
                            v,
                            &format!("{shape}.{inner}"),
                            &format!("{shown}.{inner}"),
                            structs,
                            line,
                        );
                        renamed.insert(inner_camel, v);
                    }
                }
                Value::Object(renamed)
            }
            Value::Array(items) if structs.contains(&format!("{shape}[]").as_str()) => {
                let element_shape = format!("{shape}[]");
                Value::Array(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            self.struct_keys(
                                item,
                                &element_shape,
                                &format!("{shown}[{i}]"),
                                structs,
                                line,
                            )
                        })
                        .collect(),
                )
            }
            other => other,
        }
    }

    /// The camelCase name of a snake_case key, or a problem.
    fn field_name(&mut self, key: &str, parent: Option<&str>, line: usize) -> Option<String> {
        if let Some(camel) = snake_to_camel(key) {
            return Some(camel);
        }
        let suggestion = camel_to_snake(&key.replace('-', "_")).to_ascii_lowercase();
        let hint = match snake_to_camel(&suggestion) {
            Some(_) => format!(" (did you mean `{suggestion}`?)"),
            None => String::new(),
        };
        let field = match parent {
            Some(parent) => format!("{parent}.{key}"),
            None => key.to_owned(),
        };
        self.problem(
            line,
            Some(field),
            format!("unknown key `{key}`: keys in the config file are snake_case{hint}"),
        );
        None
    }

    /// Deserializes with the API's strict parser. On a field error, records it, drops the
    /// offending value and tries again, so that every bad field of the entry is reported, not
    /// only the first. The value returned after such a repair only serves to find the
    /// remaining problems: an entry with any problem is never applied.
    fn deserialize<T: DeserializeOwned>(&mut self, mut object: Map<String, Value>) -> Option<T> {
        for _ in 0..=object.len() + 2 {
            let bytes = match serde_json::to_vec(&Value::Object(object.clone())) {
                Ok(bytes) => bytes,
                Err(err) => {
                    self.problem(self.line, None, err.to_string());
                    return None;
                }
            };
            let err = match crate::json::parse::<T>(&bytes) {
                Ok(value) => return Some(value),
                Err(err) => err,
            };
            let Some((path, message)) = err.fields.into_iter().next() else {
                self.problem(self.line, None, err.message);
                return None;
            };
            if self.reported.insert(path.clone()) {
                let line = self.line_for(&path);
                self.problem(
                    line,
                    Some(camel_to_snake(&path)),
                    snake_case_names(&message).replacen("unknown field", "unknown key", 1),
                );
            }
            if !drop_value(&mut object, &path) {
                return None;
            }
        }
        None
    }

    /// Adds the policy's field errors, except for fields already reported.
    fn field_errors(&mut self, errors: Vec<FieldError>) {
        for error in errors {
            if self.reported.contains(&error.field) {
                continue;
            }
            let line = self.line_for(&error.field);
            self.problem(line, Some(camel_to_snake(&error.field)), error.message);
        }
    }
}

/// For each `[[table]]` entry, the line of every key below its top level, by snake_case path
/// (`match.methods`, `policy.claims[0].op`), from toml's spanned document (the serde
/// deserializer gives spans one level deep only). Empty when the text does not parse (the
/// deserializer then reports the syntax error).
fn nested_key_lines(text: &str, table: &str) -> Vec<HashMap<String, usize>> {
    fn walk(
        text: &str,
        value: &toml::de::DeValue<'_>,
        path: &str,
        lines: &mut HashMap<String, usize>,
    ) {
        match value {
            toml::de::DeValue::Table(members) => {
                for (key, member) in members {
                    let at = format!("{path}.{}", key.get_ref());
                    lines.insert(at.clone(), line_of(text, key.span().start));
                    walk(text, member.get_ref(), &at, lines);
                }
            }
            toml::de::DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{path}[{i}]");
                    lines.insert(at.clone(), line_of(text, item.span().start));
                    walk(text, item.get_ref(), &at, lines);
                }
            }
            _ => {}
        }
    }
    let Ok(document) = toml::de::DeTable::parse(text) else {
        return Vec::new();
    };
    let entries = document
        .get_ref()
        .iter()
        .find(|(key, _)| key.get_ref() == table)
        .map(|(_, value)| value.get_ref());
    let Some(toml::de::DeValue::Array(entries)) = entries else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|entry| {
            let mut lines = HashMap::new();
            if let toml::de::DeValue::Table(members) = entry.get_ref() {
                for (key, member) in members {
                    walk(text, member.get_ref(), key.get_ref(), &mut lines);
                }
            }
            lines
        })
        .collect()
}

/// Removes the value at a `serde_path_to_error` path (`clockSkewS`, `permissions.routes`,
/// `audiences[1]`: a list is dropped whole) so the rest can be checked. The required `name`
/// becomes empty instead, so it stays present. False when nothing could be removed.
fn drop_value(object: &mut Map<String, Value>, path: &str) -> bool {
    let mut segments = path.split('.');
    let top = segments.next().unwrap_or(path);
    let top = top.split('[').next().unwrap_or(top);
    if top == "name" {
        let was_blank = object.get("name") == Some(&Value::String(String::new()));
        object.insert("name".to_owned(), Value::String(String::new()));
        return !was_blank;
    }
    if let (Some(inner), Some(Value::Object(members))) = (segments.next(), object.get_mut(top)) {
        let inner = inner.split('[').next().unwrap_or(inner);
        if members.remove(inner).is_some() {
            return true;
        }
    }
    object.remove(top).is_some()
}

fn to_json(value: toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("invalid value: {f} is not a finite number"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => {
            return Err(format!(
                "invalid type: date-time `{d}`; no setting takes a date (quote it if it is text)"
            ));
        }
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, to_json(v)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
    })
}

/// `jwks_uri` → `jwksUri`; `None` unless the key is canonical snake_case (lowercase letters,
/// digits, single inner underscores), so that exactly one spelling of each field is accepted.
fn snake_to_camel(key: &str) -> Option<String> {
    if !key.starts_with(|c: char| c.is_ascii_lowercase())
        || !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut camel = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    (camel_to_snake(&camel) == key).then_some(camel)
}

/// `jwksUri` → `jwks_uri` (also inside paths: `permissions.apiRoles` → `permissions.api_roles`).
fn camel_to_snake(camel: &str) -> String {
    let mut snake = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// Rewrites the camelCase field names serde quotes in backticks (`jwksUri`) to the file's
/// snake_case; values such as `RS256` or `entra_v2` are left as they are.
fn snake_case_names(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            let is_camel_field = i % 2 == 1
                && part.starts_with(|c: char| c.is_ascii_lowercase())
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && part.chars().any(|c| c.is_ascii_uppercase());
            if is_camel_field {
                camel_to_snake(part)
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// Keeps what key discovery filled in: a stored server whose `jwks_uri` and `issuer` came from
/// the same metadata document as declared is not "different" for lacking them in the file.
fn with_discovered(mut declared: ServerDefinition, stored: &ServerDefinition) -> ServerDefinition {
    if declared.metadata_url.is_some() && declared.metadata_url == stored.metadata_url {
        if declared.jwks_uri.is_none() {
            declared.jwks_uri.clone_from(&stored.jwks_uri);
        }
        if declared.issuer.is_none() {
            declared.issuer.clone_from(&stored.issuer);
        }
    }
    declared
}

/// What a key check found through metadata fills the fields the file left empty (as the API does).
fn fill_discovered(definition: &mut ServerDefinition, check: &KeyCheck) {
    if let (None, Some(discovered)) = (&definition.jwks_uri, &check.discovered_jwks_uri) {
        definition.jwks_uri = Some(discovered.clone());
    }
    if let (None, Some(discovered)) = (&definition.issuer, &check.discovered_issuer) {
        definition.issuer = Some(discovered.clone());
    }
}

/// One planned server write.
struct ServerWrite<'a> {
    declared: &'a DeclaredServer,
    /// The stored record, for an update.
    current: Option<ServerRecord>,
}

/// Applies a validated config: plans against the store, checks the org limits for the whole
/// plan, fetches keys for what changes, then writes. See the module documentation.
pub async fn apply(state: &AppState, config: &DeclaredConfig) -> Result<ApplyReport, ApplyError> {
    let mut report = ApplyReport::default();
    let read_error = |error: StoreError| ApplyError::Store {
        file: config.file.clone(),
        resource: None,
        error,
        report: ApplyReport::default(),
    };
    let stored_servers = state
        .store
        .list_servers(state.org)
        .await
        .map_err(read_error)?;
    let stored_roles = state
        .store
        .list_roles(state.org, RoleKind::Api)
        .await
        .map_err(read_error)?;
    let stored_routes = state
        .store
        .list_routes(state.org)
        .await
        .map_err(read_error)?;

    // Plan.
    let mut by_name: HashMap<&str, &ServerRecord> = stored_servers
        .iter()
        .map(|r| (r.definition.name.as_str(), r))
        .collect();
    let mut writes = Vec::new();
    for declared in &config.servers {
        let name = declared.definition.name.as_str();
        match by_name.remove(name) {
            None => writes.push(ServerWrite {
                declared,
                current: None,
            }),
            Some(stored) => {
                if with_discovered(declared.definition.clone(), &stored.definition)
                    == stored.definition
                {
                    report.unchanged.push(Resource::server(name));
                } else {
                    writes.push(ServerWrite {
                        declared,
                        current: Some(stored.clone()),
                    });
                }
            }
        }
        if declared.definition.accepts_any_audience() {
            report.warnings.push(format!(
                "{}: {ANY_AUDIENCE_WARNING}",
                Resource::server(name)
            ));
        }
    }
    let mut roles_by_name: HashMap<&str, &RoleRecord> =
        stored_roles.iter().map(|r| (r.name.as_str(), r)).collect();
    let mut role_writes = Vec::new();
    for declared in &config.roles {
        match roles_by_name.remove(declared.role.name.as_str()) {
            Some(stored) if stored.permissions == declared.role.permissions => {
                report.unchanged.push(Resource::role(&declared.role.name));
            }
            stored => role_writes.push((declared, stored.cloned())),
        }
    }
    let mut routes_by_name: HashMap<&str, &RouteRecord> = stored_routes
        .iter()
        .map(|r| (r.definition.name.as_str(), r))
        .collect();
    let mut route_writes = Vec::new();
    for declared in &config.routes {
        match routes_by_name.remove(declared.definition.name.as_str()) {
            Some(stored) if stored.definition == declared.definition => {
                report
                    .unchanged
                    .push(Resource::route(&declared.definition.name));
            }
            stored => route_writes.push((declared, stored.cloned())),
        }
    }
    if !by_name.is_empty() || !roles_by_name.is_empty() || !routes_by_name.is_empty() {
        tracing::info!(
            authorization_servers = by_name.len(),
            api_roles = roles_by_name.len(),
            routes = routes_by_name.len(),
            "config: entries in the store but not in the file are left unchanged"
        );
    }

    // Disabling first, creating last: the enabled-server limit is then checked against the
    // state the file asks for, not against an intermediate one.
    writes.sort_by_key(|w| match &w.current {
        Some(_) if !w.declared.definition.enabled => 0,
        Some(_) => 1,
        None => 2,
    });
    let problems = limit_problems(state, config, &writes, &role_writes)
        .await
        .map_err(read_error)?;
    if !problems.is_empty() {
        return Err(ApplyError::Invalid {
            file: config.file.clone(),
            problems,
        });
    }

    // Key checks, concurrently (each may wait for a slow IdP), before any write.
    let checks = check_keys(
        state,
        writes
            .iter()
            .map(|w| w.declared.definition.clone())
            .collect(),
    )
    .await;

    let actor = Actor::system(ACTOR, Interface::Config);
    for (write, check) in writes.into_iter().zip(checks) {
        let mut definition = write.declared.definition.clone();
        fill_discovered(&mut definition, &check);
        let resource = Resource::server(&definition.name);
        if let FetchOutcome::Failure { error } = &check.outcome {
            report.warnings.push(format!(
                "{resource}: the key check failed ({error}); saved anyway with the error recorded, tokens from it are rejected until its keys can be fetched"
            ));
        }
        let written = write_server(state, &actor, definition, write.current, &check.outcome).await;
        if let Err(error) = report.record(resource.clone(), written) {
            return Err(ApplyError::Store {
                file: config.file.clone(),
                resource: Some(resource),
                error,
                report,
            });
        }
    }
    for (declared, current) in role_writes {
        let resource = Resource::role(&declared.role.name);
        let written = write_role(state, &actor, &declared.role, current).await;
        if let Err(error) = report.record(resource.clone(), written) {
            return Err(ApplyError::Store {
                file: config.file.clone(),
                resource: Some(resource),
                error,
                report,
            });
        }
    }
    for (declared, current) in route_writes {
        let resource = Resource::route(&declared.definition.name);
        let written = write_route(state, &actor, &declared.definition, current).await;
        if let Err(error) = report.record(resource.clone(), written) {
            return Err(ApplyError::Store {
                file: config.file.clone(),
                resource: Some(resource),
                error,
                report,
            });
        }
    }
    Ok(report)
}

/// The org limits, checked by the store against the plan in the order it will be written (the
/// store checks them again on every write; this only makes "one entry over the limit" apply
/// nothing).
async fn limit_problems(
    state: &AppState,
    config: &DeclaredConfig,
    writes: &[ServerWrite<'_>],
    role_writes: &[(&DeclaredRole, Option<RoleRecord>)],
) -> Result<Vec<Problem>, StoreError> {
    let servers = writes.iter().map(|write| {
        let enabled = write.declared.definition.enabled;
        let change = match &write.current {
            Some(current) => LimitedChange::UpdateServer {
                was_enabled: current.definition.enabled,
                enabled,
            },
            None => LimitedChange::CreateServer { enabled },
        };
        (write.declared.line, write.declared.entry.as_str(), change)
    });
    let roles = role_writes
        .iter()
        .filter(|(_, current)| current.is_none())
        .map(|(declared, _)| {
            let change = LimitedChange::CreateRole {
                kind: RoleKind::Api,
                max: state.settings.max_api_roles,
            };
            (declared.line, declared.entry.as_str(), change)
        });
    let planned: Vec<(usize, &str, LimitedChange)> = servers.chain(roles).collect();
    let plan: Vec<LimitedChange> = planned.iter().map(|(_, _, change)| *change).collect();
    let breaches = state.store.check_limits(state.org, &plan).await?;
    Ok(breaches
        .into_iter()
        .filter_map(|(index, breach)| {
            let (line, entry, _) = planned.get(index)?;
            let (field, message) = match breach.limit {
                Limit::AuthorizationServers => (
                    None,
                    format!("{breach} (org limit max_authorization_servers); delete one or raise the limit"),
                ),
                Limit::EnabledAuthorizationServers => (
                    Some("enabled"),
                    format!("{breach} (org limit max_enabled_authorization_servers); declare it with enabled = false or disable another"),
                ),
                Limit::Roles(_) | Limit::SandboxTokens => (None, breach.to_string()),
            };
            Some(Problem {
                file: config.file.clone(),
                line: Some(*line),
                entry: Some((*entry).to_owned()),
                field: field.map(str::to_owned),
                message,
            })
        })
        .collect())
}

/// Runs the key checks of `definitions`, at most [`KEY_CHECK_CONCURRENCY`] at once, in order.
async fn check_keys(state: &AppState, definitions: Vec<ServerDefinition>) -> Vec<KeyCheck> {
    let limit = Arc::new(tokio::sync::Semaphore::new(KEY_CHECK_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let count = definitions.len();
    for (index, definition) in definitions.into_iter().enumerate() {
        let state = state.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            (index, keycheck::check(&state, &definition).await)
        });
    }
    let mut checks: Vec<Option<KeyCheck>> = vec![None; count];
    while let Some(done) = tasks.join_next().await {
        if let Ok((index, check)) = done
            && let Some(slot) = checks.get_mut(index)
        {
            *slot = Some(check);
        }
    }
    checks
        .into_iter()
        .map(|check| {
            check.unwrap_or_else(|| KeyCheck {
                report: portcullis_keys::validate::ValidationReport::failure(
                    "check_incomplete",
                    "the key check did not complete".to_owned(),
                ),
                outcome: FetchOutcome::Failure {
                    error: "the key check did not complete".to_owned(),
                },
                discovered_issuer: None,
                discovered_jwks_uri: None,
            })
        })
        .collect()
}

enum Written {
    Created,
    Updated,
    Unchanged,
}

fn is_race(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Conflict(Conflict::Duplicate { .. } | Conflict::StaleVersion { .. })
    )
}

/// Creates or updates one server; when another writer got there first (another node applying
/// the same file), reads it again and decides again.
async fn write_server(
    state: &AppState,
    actor: &Actor,
    definition: ServerDefinition,
    mut current: Option<ServerRecord>,
    outcome: &FetchOutcome,
) -> Result<Written, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match &current {
            None => state
                .store
                .create_server(state.org, &definition, Some(outcome), actor)
                .await
                .map(|_| Written::Created),
            Some(stored) => {
                let target = with_discovered(definition.clone(), &stored.definition);
                if target == stored.definition {
                    return Ok(Written::Unchanged);
                }
                state
                    .store
                    .update_server(
                        state.org,
                        &stored.id,
                        Some(stored.version),
                        &target,
                        Some(outcome),
                        actor,
                    )
                    .await
                    .map(|_| Written::Updated)
            }
        };
        match result {
            Err(error) if is_race(&error) && attempt < WRITE_ATTEMPTS => {
                current = state
                    .store
                    .list_servers(state.org)
                    .await?
                    .into_iter()
                    .find(|r| r.definition.name == definition.name);
            }
            other => return other,
        }
    }
}

/// Creates or updates one API role, re-deciding after a concurrent writer as for servers.
async fn write_role(
    state: &AppState,
    actor: &Actor,
    role: &RoleInput,
    mut current: Option<RoleRecord>,
) -> Result<Written, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match &current {
            None => state
                .store
                .create_role(
                    state.org,
                    RoleKind::Api,
                    role,
                    state.settings.max_api_roles,
                    actor,
                )
                .await
                .map(|_| Written::Created),
            Some(stored) if stored.permissions == role.permissions => {
                return Ok(Written::Unchanged);
            }
            Some(stored) => state
                .store
                .update_role(
                    state.org,
                    RoleKind::Api,
                    &stored.id,
                    Some(stored.version),
                    role,
                    actor,
                )
                .await
                .map(|_| Written::Updated),
        };
        match result {
            Err(error) if is_race(&error) && attempt < WRITE_ATTEMPTS => {
                current = state
                    .store
                    .list_roles(state.org, RoleKind::Api)
                    .await?
                    .into_iter()
                    .find(|r| r.name == role.name);
            }
            other => return other,
        }
    }
}

/// Creates or updates one route, re-deciding after a concurrent writer as for servers.
async fn write_route(
    state: &AppState,
    actor: &Actor,
    definition: &RouteDefinition,
    mut current: Option<RouteRecord>,
) -> Result<Written, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match &current {
            None => state
                .store
                .create_route(state.org, definition, actor)
                .await
                .map(|_| Written::Created),
            Some(stored) if stored.definition == *definition => {
                return Ok(Written::Unchanged);
            }
            Some(stored) => state
                .store
                .update_route(
                    state.org,
                    &stored.id,
                    Some(stored.version),
                    definition,
                    actor,
                )
                .await
                .map(|_| Written::Updated),
        };
        match result {
            Err(error) if is_race(&error) && attempt < WRITE_ATTEMPTS => {
                current = state
                    .store
                    .list_routes(state.org)
                    .await?
                    .into_iter()
                    .find(|r| r.definition.name == definition.name);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_spelling() {
        assert_eq!(snake_to_camel("jwks_uri").as_deref(), Some("jwksUri"));
        assert_eq!(
            snake_to_camel("require_typ_at_jwt").as_deref(),
            Some("requireTypAtJwt")
        );
        assert_eq!(
            snake_to_camel("clock_skew_s").as_deref(),
            Some("clockSkewS")
        );
        for refused in [
            "jwksUri",
            "jwks__uri",
            "_name",
            "name_",
            "jwks-uri",
            "",
            "1a",
        ] {
            assert_eq!(snake_to_camel(refused), None, "{refused}");
        }
        assert_eq!(
            camel_to_snake("permissions.apiRoles"),
            "permissions.api_roles"
        );
        assert_eq!(
            snake_case_names("unknown field `jwksUrl`, expected one of `name`, `jwksUri`"),
            "unknown field `jwks_url`, expected one of `name`, `jwks_uri`"
        );
        assert_eq!(
            snake_case_names("unknown variant `HS256`, expected one of `RS256`, `EdDSA`"),
            "unknown variant `HS256`, expected one of `RS256`, `EdDSA`"
        );
    }

    #[test]
    fn lines_are_one_based() {
        let text = "a\nb\nc";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 99), 3);
    }
}

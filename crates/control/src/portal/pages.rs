//! Page handlers: read what the page shows (through the store and the API's own view
//! functions), render a template. Every change a page offers is made by its script through the
//! JSON API.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use portcullis_jose::Algorithm;
use portcullis_policy::Preset;
use portcullis_policy::permissions::{Access, Category, Permissions};
use portcullis_store::{RoleKind, RoleRecord, ServerRecord, now_ms};
use serde::Deserialize;
use serde_json::json;

use super::view::{self, DiffRow};
use super::{PageError, PortalAdmin, assets, plain};
use crate::api::{audit, ops, servers};
use crate::auth::{admin_session, session_cookie_name};
use crate::error::ApiError;
use crate::state::ControlState;

/// Where the portal starts.
pub const HOME: &str = "/portal/dashboard";

/// The authorization servers page.
pub const SERVERS: &str = "/portal/authorization-servers";

/// The permission categories with their labels, in the order pages show them.
const CATEGORIES: [(Category, &str); 6] = [
    (Category::AuthorizationServers, "Authorization servers"),
    (Category::ApiRoles, "API roles"),
    (Category::ApiCredentials, "API credentials"),
    (Category::Routes, "Routes"),
    (Category::AuditLogs, "Audit logs"),
    (Category::Admins, "Admins"),
];

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Full => "full",
        Access::ViewOnly => "view_only",
        Access::None => "none",
    }
}

fn access_label(access: Access) -> &'static str {
    match access {
        Access::Full => "Full",
        Access::ViewOnly => "View only",
        Access::None => "None",
    }
}

/// One navigation entry.
pub struct NavItem {
    pub(super) href: &'static str,
    pub(super) label: &'static str,
    pub(super) current: bool,
}

/// The Test a Token page.
const TESTER: &str = "/portal/token-tester";

/// The frame every signed-in page shares: title, navigation, the admin, the CSRF token for the
/// scripts, and the asset URLs.
pub struct Chrome {
    /// The read-only banner's text, when writes are refused.
    pub(super) read_only: Option<&'static str>,
    /// How many changes wait for activation, when any do (the pending-changes bar).
    pub(super) pending: Option<i64>,
    pub(super) title: &'static str,
    pub(super) admin_login: String,
    pub(super) csrf_token: String,
    pub(super) nav: Vec<NavItem>,
    pub(super) css: String,
    pub(super) common_js: String,
    /// The page's own script, if it has one.
    pub(super) page_js: Option<String>,
    pub(super) favicon: String,
}

impl Chrome {
    pub(super) fn new(
        admin: &PortalAdmin,
        title: &'static str,
        href: &'static str,
        script: impl Into<Option<&'static str>>,
    ) -> Self {
        let permissions = admin.permissions();
        let entries: [(&'static str, &'static str, Option<Category>); 12] = [
            (HOME, "Dashboard", None),
            (
                SERVERS,
                "Authorization Servers",
                Some(Category::AuthorizationServers),
            ),
            ("/portal/api-roles", "API Roles", Some(Category::ApiRoles)),
            ("/portal/routes", "Routes", Some(Category::Routes)),
            (
                "/portal/credentials/api-key",
                "Cloud Service API Key",
                Some(Category::ApiCredentials),
            ),
            (
                "/portal/credentials/sandbox-tokens",
                "Sandbox API Token",
                Some(Category::ApiCredentials),
            ),
            (TESTER, "Test a Token", Some(Category::ApiCredentials)),
            ("/portal/admins", "Admins", Some(Category::Admins)),
            ("/portal/admin-roles", "Admin Roles", Some(Category::Admins)),
            ("/portal/audit-log", "Audit Log", Some(Category::AuditLogs)),
            (
                "/portal/cluster",
                "Cluster Nodes",
                Some(Category::AuthorizationServers),
            ),
            ("/portal/org-settings", "Org Settings", None),
        ];
        let nav = entries
            .into_iter()
            .filter(|(h, _, category)| {
                // Test a Token needs Full (as minting a sandbox token does); the rest View.
                category.is_none_or(|c| permissions.allows(c, *h == TESTER))
            })
            .map(|(h, label, _)| NavItem {
                href: h,
                label,
                current: h == href,
            })
            .collect();
        Chrome {
            read_only: admin.1.map(|source| match source {
                portcullis_runtime::ReadOnly::Deployment => {
                    "Read-only mode (set for this node by PORTCULLIS_READ_ONLY): changes are refused; token decisions go on."
                }
                portcullis_runtime::ReadOnly::OrgSettings => {
                    "Read-only mode (switched on in Org Settings): changes are refused; token decisions go on."
                }
            }),
            pending: (admin.2 > 0).then_some(admin.2),
            title,
            admin_login: admin.0.admin.login.clone(),
            csrf_token: admin.0.csrf_token.clone(),
            nav,
            css: assets::url("portal.css"),
            common_js: assets::url("common.js"),
            page_js: script.into().map(assets::url),
            favicon: assets::url("favicon.svg"),
        }
    }
}

pub(super) fn render(template: &impl Template) -> Result<Response, PageError> {
    template
        .render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError::Api(ApiError::internal(&e)))
}

/// The label of a permission category, as the pages show it.
fn category_name(category: Category) -> &'static str {
    CATEGORIES
        .iter()
        .find(|(c, _)| *c == category)
        .map_or("", |(_, label)| label)
}

/// The 403 page of a signed-in admin: the portal's layout (their menu stays), and the
/// permission the page needs.
#[derive(Template)]
#[template(path = "forbidden.html")]
pub struct ForbiddenPage {
    chrome: Chrome,
    permission: &'static str,
    level: &'static str,
}

impl std::fmt::Debug for ForbiddenPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForbiddenPage")
            .field("permission", &self.permission)
            .finish_non_exhaustive()
    }
}

impl ForbiddenPage {
    /// The page for an admin who may not view `category`.
    pub fn new(admin: &PortalAdmin, category: Category) -> Self {
        Self::needing(admin, category, "View only or Full")
    }

    /// The page for an admin whose `category` permission is below `level`.
    pub fn needing(admin: &PortalAdmin, category: Category, level: &'static str) -> Self {
        ForbiddenPage {
            chrome: Chrome::new(admin, "Not allowed", "", None::<&'static str>),
            permission: category_name(category),
            level,
        }
    }
}

/// The page shown for errors (404, 503, ...).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// HTTP status.
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

impl ErrorPage {
    fn css(&self) -> String {
        assets::url("portal.css")
    }

    fn favicon(&self) -> String {
        assets::url("favicon.svg")
    }
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    css: String,
    script: String,
    favicon: String,
    next: String,
}

/// `?next=` of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /portal/login`: the sign-in form (its script calls `POST /api/v1/auth/login`). Someone already
/// signed in goes straight on.
pub async fn login(
    State(state): State<ControlState>,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = query
        .next
        .as_deref()
        .and_then(view::local_path)
        .filter(|n| !n.starts_with("/portal/login"))
        .unwrap_or(HOME)
        .to_owned();
    if let Some(session_id) = jar
        .get(session_cookie_name(&state.settings))
        .map(|c| c.value().to_owned())
        && admin_session(&state, &session_id).await?.is_some()
    {
        return Ok(Redirect::to(&next).into_response());
    }
    render(&LoginPage {
        css: assets::url("portal.css"),
        script: assets::url("login.js"),
        favicon: assets::url("favicon.svg"),
        next,
    })
}

// ---------------------------------------------------------------------------------------------
// Authorization servers

/// One row of the servers table; every column is rendered (hidden ones with `hidden`), so the
/// search finds text in hidden columns and showing a column needs no request.
struct ServerRow {
    id: String,
    name: String,
    enabled: bool,
    version: i64,
    description: String,
    /// `fresh`, `stale` or `failing`.
    health: &'static str,
    health_label: &'static str,
    /// The last fetch error: the plain sentence and the technical text.
    last_error: Option<(&'static str, String)>,
    /// Until when the last good keys stay in use (`maxStaleS` after the last success).
    keys_until: Option<String>,
    /// The routes that name this server, for the Disable and Delete confirmations.
    routes: String,
    last_success: Option<Moment>,
    last_attempt: Option<Moment>,
    created: Moment,
    updated: Moment,
    issuer: String,
    audiences: String,
    client_ids: String,
    jwks_uri: String,
    metadata_url: String,
    preset: &'static str,
    key_ids: String,
    warning: Option<&'static str>,
    /// Certificate checks of the key hosts are off.
    tls_unverified: bool,
}

/// A time shown relative and absolute, with a sort key.
struct Moment {
    ms: i64,
    relative: String,
    absolute: String,
    rfc3339: String,
}

impl Moment {
    fn new(now: i64, ms: i64) -> Self {
        Moment {
            ms,
            relative: view::relative(now, ms),
            absolute: view::absolute(ms),
            rfc3339: crate::time::rfc3339(ms),
        }
    }
}

fn server_row(record: ServerRecord, now: i64, routes: String) -> ServerRow {
    let status = record.status.clone();
    let view = servers::view(record.clone());
    let (health, health_label) = match view.status.keys_source {
        servers::KeysSource::Fresh => ("fresh", "Keys fresh"),
        servers::KeysSource::StaleButUsable => ("stale", "Keys stale"),
        servers::KeysSource::None | servers::KeysSource::Expired => ("failing", "Keys failing"),
    };
    let definition = record.definition;
    ServerRow {
        id: record.id,
        name: definition.name,
        enabled: definition.enabled,
        version: record.version,
        description: definition.description,
        health,
        health_label,
        last_error: status.last_fetch_error.as_deref().map(plain::fetch_error),
        keys_until: status
            .last_successful_fetch_at
            .map(|ms| view::absolute(ms.saturating_add(i64::from(definition.max_stale_s) * 1000))),
        routes,
        last_success: status
            .last_successful_fetch_at
            .map(|ms| Moment::new(now, ms)),
        last_attempt: status.last_fetch_attempt_at.map(|ms| Moment::new(now, ms)),
        created: Moment::new(now, record.created_at),
        updated: Moment::new(now, record.updated_at),
        issuer: definition.issuer.unwrap_or_default(),
        audiences: definition.audiences.join(", "),
        client_ids: definition.client_ids.join(", "),
        jwks_uri: definition.jwks_uri.unwrap_or_default(),
        metadata_url: definition.metadata_url.unwrap_or_default(),
        preset: definition.preset.name(),
        key_ids: status.key_ids.join(", "),
        warning: view
            .warnings
            .contains(&servers::ANY_AUDIENCE_WARNING)
            .then_some(servers::ANY_AUDIENCE_WARNING),
        tls_unverified: view.warnings.contains(&servers::TLS_UNVERIFIED_WARNING),
    }
}

fn preset_label(preset: Preset) -> &'static str {
    match preset {
        Preset::Generic => "Generic (RFC 8414 / OpenID Connect)",
        Preset::Okta => "Okta (custom authorization server)",
        Preset::EntraV1 => "Microsoft Entra ID (v1.0 tokens)",
        Preset::EntraV2 => "Microsoft Entra ID (v2.0 tokens)",
        Preset::Pingfederate => "PingFederate",
        Preset::Pingone => "PingOne",
    }
}

#[derive(Template)]
#[template(path = "servers.html")]
struct ServersPage {
    chrome: Chrome,
    api_base_url: String,
    rows: Vec<ServerRow>,
    can_write: bool,
    presets: Vec<(&'static str, &'static str)>,
    /// The presets' defaults as JSON, for the dialog's preset picker (an attribute value:
    /// escaped by the template, parsed by the script).
    presets_json: String,
    algorithms: Vec<&'static str>,
    columns: [(&'static str, &'static str, bool); 14],
    /// The plain-words table for the scripts ([`plain::script_json`]).
    plain_json: String,
}

/// The servers table's columns: key, header, shown by default. The template writes the cells in
/// this order; the script reorders, hides and sizes them from the browser's saved preferences.
const SERVER_COLUMNS: [(&str, &str, bool); 14] = [
    ("name", "Name", true),
    ("status", "Status", true),
    ("description", "Description", true),
    ("lastFetch", "Last Successful Fetch Time", true),
    ("issuer", "Issuer", false),
    ("audiences", "Audience", false),
    ("clientIds", "Client IDs", false),
    ("jwksUri", "JWKS URL", false),
    ("metadataUrl", "Metadata URL", false),
    ("preset", "Preset", false),
    ("keys", "Keys", false),
    ("lastAttempt", "Last Fetch Attempt", false),
    ("created", "Created", false),
    ("updated", "Updated", false),
];

/// `GET /portal/authorization-servers`.
pub async fn servers(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    admin.require_view(Category::AuthorizationServers)?;
    let now = now_ms();
    let routes = if admin.permissions().allows(Category::Routes, false) {
        state.store.list_routes(state.org).await?
    } else {
        Vec::new()
    };
    let rows = state
        .store
        .list_servers(state.org)
        .await?
        .into_iter()
        .map(|r| {
            let naming: Vec<&str> = routes
                .iter()
                .filter(|route| route.definition.policy.servers.contains(&r.definition.name))
                .map(|route| route.definition.name.as_str())
                .collect();
            server_row(r, now, naming.join(", "))
        })
        .collect();
    let presets_json = Preset::ALL
        .into_iter()
        .map(|p| {
            let d = p.defaults();
            (
                p.name().to_owned(),
                json!({
                    "allowedAlgs": d.allowed_algs.iter().map(|a| a.name()).collect::<Vec<_>>(),
                    "scopeClaims": d.scope_claims,
                    "clientIdClaims": d.client_id_claims,
                    "issuerExample": p.issuer_example(),
                    "maxTokenLifetimeS": d.max_token_lifetime_s,
                }),
            )
        })
        .collect::<serde_json::Map<_, _>>();
    render(&ServersPage {
        chrome: Chrome::new(
            &admin,
            "OAuth 2.0 Authorization Servers",
            SERVERS,
            "servers.js",
        ),
        api_base_url: ops::api_base_url(&state.settings),
        rows,
        can_write: admin.can_write(Category::AuthorizationServers),
        presets: Preset::ALL
            .into_iter()
            .map(|p| (p.name(), preset_label(p)))
            .collect(),
        presets_json: serde_json::Value::Object(presets_json).to_string(),
        algorithms: Algorithm::ALL.iter().map(|a| a.name()).collect(),
        columns: SERVER_COLUMNS,
        plain_json: plain::script_json(),
    })
}

// ---------------------------------------------------------------------------------------------
// API roles and admin roles

struct RoleRow {
    id: String,
    name: String,
    builtin: bool,
    version: i64,
    /// (category wire name, access wire name, access label), in [`CATEGORIES`] order.
    cells: Vec<(&'static str, &'static str, &'static str)>,
}

fn role_row(role: RoleRecord) -> RoleRow {
    let p: Permissions = role.permissions;
    RoleRow {
        cells: CATEGORIES
            .iter()
            .map(|(c, _)| {
                let access = p.access(*c);
                (c.name(), access_name(access), access_label(access))
            })
            .collect(),
        id: role.id,
        name: role.name,
        builtin: role.builtin,
        version: role.version,
    }
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    chrome: Chrome,
    heading: &'static str,
    intro: &'static str,
    /// `/api/v1/apiRoles` or `/api/v1/adminRoles`.
    api_path: &'static str,
    singular: &'static str,
    /// For API roles: the scope that grants a role (`<cloud>::<orgId>::<role>`), with this
    /// deployment's cloud name and org filled in.
    scope_form: Option<String>,
    rows: Vec<RoleRow>,
    categories: Vec<(&'static str, &'static str)>,
    can_write: bool,
}

async fn roles_page(
    state: &ControlState,
    admin: &PortalAdmin,
    kind: RoleKind,
) -> Result<Response, PageError> {
    let category = crate::auth::category_for_kind(kind);
    admin.require_view(category)?;
    let rows = state
        .store
        .list_roles(state.org, kind)
        .await?
        .into_iter()
        .map(role_row)
        .collect();
    let (title, href, api_path, singular, intro) = match kind {
        RoleKind::Api => (
            "API Roles",
            "/portal/api-roles",
            "/api/v1/apiRoles",
            "API role",
            "API roles authorize the cloud service API for OAuth 2.0 tokens: a token whose scopes contain <cloud>::<orgId>::<role name> gets that role's permissions.",
        ),
        RoleKind::Admin => (
            "Admin Roles",
            "/portal/admin-roles",
            "/api/v1/adminRoles",
            "admin role",
            "Admin roles say what each portal and API administrator may view or change. The built-in Super Admin cannot be changed.",
        ),
    };
    render(&RolesPage {
        chrome: Chrome::new(admin, title, href, "roles.js"),
        heading: title,
        intro,
        api_path,
        singular,
        scope_form: (kind == RoleKind::Api)
            .then(|| format!("{}::{}::", state.settings.cloud_name, state.org)),
        rows,
        categories: CATEGORIES.iter().map(|(c, l)| (c.name(), *l)).collect(),
        can_write: admin.can_write(category),
    })
}

/// `GET /portal/api-roles`.
pub async fn api_roles(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    roles_page(&state, &admin, RoleKind::Api).await
}

/// `GET /portal/admin-roles`.
pub async fn admin_roles(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    roles_page(&state, &admin, RoleKind::Admin).await
}

// ---------------------------------------------------------------------------------------------
// Admins

struct AdminRow {
    id: String,
    login: String,
    name: String,
    role_id: String,
    role_name: String,
    version: i64,
    locked_until: Option<String>,
    created: String,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "admins.html")]
struct AdminsPage {
    chrome: Chrome,
    rows: Vec<AdminRow>,
    roles: Vec<(String, String)>,
    can_write: bool,
    min_password: usize,
}

/// `GET /portal/admins`.
pub async fn admins(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    admin.require_view(Category::Admins)?;
    let roles = state.store.list_roles(state.org, RoleKind::Admin).await?;
    let now = now_ms();
    let rows = state
        .store
        .list_admins(state.org)
        .await?
        .into_iter()
        .map(|a| AdminRow {
            role_name: roles
                .iter()
                .find(|r| r.id == a.role_id)
                .map_or_else(|| a.role_id.clone(), |r| r.name.clone()),
            is_self: a.id == admin.0.admin.id,
            locked_until: a.locked_until.filter(|t| *t > now).map(view::absolute),
            created: view::absolute(a.created_at),
            id: a.id,
            login: a.login,
            name: a.name,
            role_id: a.role_id,
            version: a.version,
        })
        .collect();
    render(&AdminsPage {
        chrome: Chrome::new(&admin, "Admins", "/portal/admins", "admins.js"),
        rows,
        roles: roles.into_iter().map(|r| (r.id, r.name)).collect(),
        can_write: admin.can_write(Category::Admins),
        min_password: crate::api::admins::MIN_PASSWORD_CHARS,
    })
}

// ---------------------------------------------------------------------------------------------
// Routes

struct RouteRow {
    id: String,
    name: String,
    host: String,
    path: String,
    exact: bool,
    methods: String,
    upstream: String,
    credentials: String,
    servers: String,
    all_of: String,
    any_of: String,
    claims: Vec<String>,
    forward: Vec<String>,
}

#[derive(Template)]
#[template(path = "routes.html")]
struct RoutesPage {
    chrome: Chrome,
    rows: Vec<RouteRow>,
    server_names: Vec<String>,
    methods: [&'static str; 9],
    can_write: bool,
}

/// `GET /portal/routes`.
pub async fn routes(
    State(state): State<ControlState>,
    admin: PortalAdmin,
) -> Result<Response, PageError> {
    admin.require_view(Category::Routes)?;
    let server_names = if admin
        .permissions()
        .allows(Category::AuthorizationServers, false)
    {
        state
            .store
            .list_servers(state.org)
            .await?
            .into_iter()
            .map(|s| s.definition.name)
            .collect()
    } else {
        Vec::new()
    };
    let rows = state
        .store
        .list_routes(state.org)
        .await?
        .into_iter()
        .map(|r| {
            let d = r.definition;
            RouteRow {
                id: r.id,
                name: d.name,
                host: d.matcher.host.unwrap_or_default(),
                exact: d.matcher.exact_path.is_some(),
                path: d
                    .matcher
                    .exact_path
                    .or(d.matcher.path_prefix)
                    .unwrap_or_default(),
                methods: d.matcher.methods.join(" "),
                upstream: d.upstream.unwrap_or_default(),
                credentials: d
                    .policy
                    .credentials
                    .iter()
                    .map(compact_json)
                    .collect::<Vec<_>>()
                    .join(", "),
                servers: d.policy.servers.join(", "),
                all_of: d.policy.scopes.all_of.join(" "),
                any_of: d.policy.scopes.any_of.join(" "),
                claims: d
                    .policy
                    .claims
                    .iter()
                    .map(|rule| {
                        let op = compact_json(&rule.op);
                        match &rule.value {
                            Some(value) => format!("{} {op} {value}", rule.path),
                            None => format!("{} {op}", rule.path),
                        }
                    })
                    .collect(),
                forward: d
                    .policy
                    .forward_claims
                    .iter()
                    .map(|(h, c)| format!("{h}: {c}"))
                    .collect(),
            }
        })
        .collect();
    render(&RoutesPage {
        chrome: Chrome::new(&admin, "Routes", "/portal/routes", "routes.js"),
        rows,
        server_names,
        methods: [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
        ],
        can_write: admin.can_write(Category::Routes),
    })
}

/// Compact JSON of a policy part for display (a credential type as its wire name, a claim rule
/// as its object).
fn compact_json<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Audit log

struct AuditRow {
    at: String,
    at_relative: String,
    action: String,
    category: String,
    /// The category as people read it ("API credentials", not `apiCredentials`).
    category_label: String,
    resource: String,
    actor: String,
    client_ip: String,
    interface: String,
    result: String,
    detail: String,
    diff: Vec<DiffRow>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<AuditRow>,
    /// The filter as submitted (form values).
    form: HashMap<String, String>,
    csv_url: String,
    error: Option<String>,
    actions: [&'static str; 14],
    categories: Vec<(&'static str, &'static str)>,
    interfaces: [&'static str; 4],
    results: [&'static str; 2],
}

impl AuditPage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name).map_or("", String::as_str)
    }
}

/// A `datetime-local` value (`2025-01-31T14:05`, read as UTC) as RFC 3339; anything else is
/// passed on for the API's own parser to accept or name.
fn form_time(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.len() == 16 && bytes.get(10) == Some(&b'T') {
        format!("{value}:00Z")
    } else if bytes.len() == 19 && bytes.get(10) == Some(&b'T') {
        format!("{value}Z")
    } else {
        value.to_owned()
    }
}

/// A category's label from its wire name; a name outside [`CATEGORIES`] (e.g. sign-ins) is
/// split into words ("apiKey" → "api key").
fn category_label(wire: &str) -> String {
    if let Some((_, label)) = CATEGORIES.iter().find(|(c, _)| c.name() == wire) {
        return (*label).to_owned();
    }
    let mut out = String::with_capacity(wire.len() + 4);
    for c in wire.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET /portal/audit-log?from=&to=&action=&category=&interface=&result=&actor=&resource=`: the same
/// filters as `GET /api/v1/auditLogs`, parsed by the API's own filter parser.
pub async fn audit_log(
    State(state): State<ControlState>,
    admin: PortalAdmin,
    Query(form): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    admin.require_view(Category::AuditLogs)?;
    let form: HashMap<String, String> = form
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k, v.trim().to_owned()))
        .collect();
    let mut query: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| {
            let v = if k == "from" || k == "to" {
                form_time(v)
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    query.sort();
    let api_query: HashMap<String, String> = query.iter().cloned().collect();
    let (rows, error) = match audit::filter(&api_query) {
        Ok(mut filter) => {
            filter.limit = filter.limit.or(Some(500));
            let now = now_ms();
            let rows = state
                .store
                .query_audit(state.org, &filter)
                .await?
                .into_iter()
                .map(|e| AuditRow {
                    at: view::absolute(e.at),
                    at_relative: view::relative(now, e.at),
                    diff: view::diff(e.before.as_ref(), e.after.as_ref()),
                    action: e.action,
                    category_label: category_label(&e.category),
                    category: e.category,
                    resource: e.resource,
                    actor: e.actor,
                    client_ip: e.client_ip.unwrap_or_default(),
                    interface: e.interface,
                    result: e.result,
                    detail: e.detail.unwrap_or_default(),
                })
                .collect();
            (rows, None)
        }
        Err(err) => {
            let detail = err
                .fields
                .iter()
                .map(|(f, m)| format!("{f}: {m}"))
                .collect::<Vec<_>>()
                .join("; ");
            (Vec::new(), Some(format!("{} ({detail})", err.message)))
        }
    };
    let csv_url = format!(
        "/api/v1/auditLogs.csv?{}",
        query
            .iter()
            .map(|(k, v)| format!("{}={}", view::query_escape(k), view::query_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    );
    render(&AuditPage {
        chrome: Chrome::new(&admin, "Audit Log", "/portal/audit-log", "audit.js"),
        rows,
        form,
        csv_url,
        error,
        actions: [
            "create",
            "update",
            "delete",
            "enable",
            "disable",
            "regenerate",
            "reveal",
            "sign_in",
            "sign_out",
            "stage_create",
            "stage_update",
            "stage_delete",
            "discard",
            "activate",
        ],
        categories: CATEGORIES
            .iter()
            .map(|(c, l)| (c.name(), *l))
            .chain([
                (
                    portcullis_store::ACTIVATION_CATEGORY,
                    "Configuration (activations)",
                ),
                ("orgSettings", "Org settings"),
            ])
            .collect(),
        interfaces: ["Admin UI", "API", "Config", "System"],
        results: ["success", "failure"],
    })
}

// ---------------------------------------------------------------------------------------------
// Credentials and the token tester

#[derive(Template)]
#[template(path = "api_key.html")]
struct ApiKeyPage {
    chrome: Chrome,
    can_write: bool,
}

/// `GET /portal/credentials/api-key`: the Cloud Service API Key tab.
pub async fn api_key(admin: PortalAdmin) -> Result<Response, PageError> {
    admin.require_view(Category::ApiCredentials)?;
    render(&ApiKeyPage {
        chrome: Chrome::new(
            &admin,
            "Cloud Service API Key",
            "/portal/credentials/api-key",
            "credentials.js",
        ),
        can_write: admin.can_write(Category::ApiCredentials),
    })
}

#[derive(Template)]
#[template(path = "sandbox_tokens.html")]
struct SandboxTokensPage {
    chrome: Chrome,
    can_write: bool,
}

/// `GET /portal/credentials/sandbox-tokens`: the Sandbox API Token tab.
pub async fn sandbox_tokens(admin: PortalAdmin) -> Result<Response, PageError> {
    admin.require_view(Category::ApiCredentials)?;
    render(&SandboxTokensPage {
        chrome: Chrome::new(
            &admin,
            "Sandbox API Token",
            "/portal/credentials/sandbox-tokens",
            "credentials.js",
        ),
        can_write: admin.can_write(Category::ApiCredentials),
    })
}

#[derive(Template)]
#[template(path = "tester.html")]
struct TesterPage {
    chrome: Chrome,
}

/// `GET /portal/token-tester`: evaluate a token through the sandbox API and show the trace.
pub async fn token_tester(admin: PortalAdmin) -> Result<Response, PageError> {
    // The same bar as minting a sandbox token (Full): the report names routes, roles and
    // servers, and an evaluation is a verification oracle.
    admin.require_full(Category::ApiCredentials)?;
    render(&TesterPage {
        chrome: Chrome::new(&admin, "Test a Token", "/portal/token-tester", "tester.js"),
    })
}

#[derive(Template)]
#[template(path = "cluster.html")]
struct ClusterPage {
    chrome: Chrome,
    /// The plain-words table for the script ([`plain::script_json`]).
    plain_json: String,
}

/// `GET /portal/cluster`: the nodes sharing this configuration (`GET /api/v1/cluster/nodes`).
pub async fn cluster(admin: PortalAdmin) -> Result<Response, PageError> {
    admin.require_view(Category::AuthorizationServers)?;
    render(&ClusterPage {
        chrome: Chrome::new(&admin, "Cluster Nodes", "/portal/cluster", "cluster.js"),
        plain_json: plain::script_json(),
    })
}

//! Routes and their policies (DESIGN.md §1.3): which upstream requests need which credentials,
//! scopes and claims, and which identity headers go upstream. Matching picks the most specific
//! route; no match is a deny. Pure: the HTTP layer passes the method, the canonical host and the
//! canonical request target ([`crate::target`]) and the verified token's scopes and claims.
//!
//! Matching rules (what a route's path is compared with):
//! - **Canonical to canonical.** Requests are matched on their [`RequestTarget`] only, never on
//!   raw text, and route paths must be written in canonical form ([`canonicalize_path`]), so what
//!   the admin writes is what is compared. The query never takes part.
//! - **Decoded comparison.** Both sides are compared fully percent-decoded (once): `/a%21` and
//!   `/a!` are one path to the frameworks behind the gateway, so they are one path to the routes.
//!   (A canonical path never holds `%2F` or `%5C`, so decoding cannot create a separator.)
//! - **`;` parameters never hide a prefix.** Tomcat, Jetty and Spring read `/orders;x/1` as
//!   `/orders/1`; when the path holds `;` (or `%3B`), each segment is compared on its text
//!   before the first `;`. The upstream still receives the canonical path unchanged. Route paths
//!   cannot hold `;`.
//! - **Segment boundaries.** A prefix matches itself and what follows a `/` after it
//!   (`/orders` matches `/orders` and `/orders/1`, never `/ordersx`).
//! - **Case.** Case-sensitive unless the route says `caseInsensitive` (ASCII case only), for
//!   upstreams that fold case.
//! - **Host.** Compared canonical to canonical ([`canonical_host`]: lower case, port and one
//!   trailing dot removed, IPv6 in RFC 5952 form); a route with a host never matches a request
//!   without one.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{FieldError, check_name};
use crate::target::{Host, RequestTarget, canonical_host, canonicalize_path};
use crate::validator::VerifiedToken;

/// Longest regex accepted in a `matches` rule, and its compiled-size bound.
pub const MAX_PATTERN_LEN: usize = 512;
const MAX_REGEX_SIZE: usize = 64 * 1024;

/// Which requests a route applies to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteMatch {
    /// Exact host, compared in canonical form (case-insensitive, port and one trailing dot
    /// ignored, IPv6 literals in brackets); none = any host.
    #[serde(default)]
    pub host: Option<String>,
    /// Path prefix on a segment boundary (`/orders` matches `/orders` and `/orders/1`, not
    /// `/ordersx`), in canonical form.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Exact path, in canonical form.
    #[serde(default)]
    pub exact_path: Option<String>,
    /// Methods (upper case); empty = any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Compare the path ignoring ASCII case, for upstreams that fold case (`/Orders` is
    /// `/orders` to them); default: case-sensitive.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// Credentials a route accepts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialType {
    /// OAuth 2.0 bearer JWTs.
    Oauth,
    /// The Cloud Service API key session.
    ApiKey,
    /// No credentials: the route is public.
    None,
}

/// Required scopes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeRule {
    /// Every one of these.
    #[serde(default)]
    pub all_of: Vec<String>,
    /// At least one of these (when non-empty).
    #[serde(default)]
    pub any_of: Vec<String>,
}

/// A claim rule operator.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimOp {
    /// The claim equals `value` (JSON equality: strings, numbers, booleans).
    Equals,
    /// The claim equals one of `value` (an array).
    OneOf,
    /// The claim (array, or space-separated string) contains `value`.
    Contains,
    /// The claim is present.
    Exists,
    /// The claim is a string fully matching the regex `value`.
    Matches,
}

/// A rule on one claim.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimRule {
    /// Claim path, dot-separated for nested objects (`realm_access.roles`).
    pub path: String,
    /// Operator.
    pub op: ClaimOp,
    /// Operand (absent for `exists`).
    #[serde(default)]
    pub value: Option<Value>,
}

/// What a route requires and forwards.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoutePolicy {
    /// Accepted credential types (default: OAuth).
    #[serde(default = "default_credentials")]
    pub credentials: Vec<CredentialType>,
    /// Names of the servers whose tokens are accepted; empty = all enabled servers.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Required scopes.
    #[serde(default)]
    pub scopes: ScopeRule,
    /// Claim rules (all must hold).
    #[serde(default)]
    pub claims: Vec<ClaimRule>,
    /// Headers to send upstream → claim path.
    #[serde(default = "default_forward_claims")]
    pub forward_claims: BTreeMap<String, String>,
    /// Keep the client's `Authorization` header when proxying (default: stripped).
    #[serde(default)]
    pub keep_authorization: bool,
}

fn default_credentials() -> Vec<CredentialType> {
    vec![CredentialType::Oauth]
}

/// The default identity headers.
pub fn default_forward_claims() -> BTreeMap<String, String> {
    [
        ("X-Auth-Subject", "sub"),
        ("X-Auth-Client-Id", "$client_id"),
        ("X-Auth-Issuer", "iss"),
        ("X-Auth-Scopes", "$scopes"),
    ]
    .into_iter()
    .map(|(h, c)| (h.to_owned(), c.to_owned()))
    .collect()
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self {
            credentials: default_credentials(),
            servers: Vec::new(),
            scopes: ScopeRule::default(),
            claims: Vec::new(),
            forward_claims: default_forward_claims(),
            keep_authorization: false,
        }
    }
}

/// A route as an admin defines it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDefinition {
    /// Unique name in the org.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub name: String,
    /// Which requests.
    #[serde(rename = "match")]
    pub matcher: RouteMatch,
    /// Upstream base URL (reverse-proxy mode); none = forward-auth only.
    #[serde(default)]
    pub upstream: Option<String>,
    /// The policy.
    #[serde(default)]
    pub policy: RoutePolicy,
}

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl RouteDefinition {
    /// Field-level problems. Route paths must be in canonical form ([`canonicalize_path`]).
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.check(true)
    }

    /// The field checks; `strict` also refuses a valid path that is not in canonical form (a
    /// stored route written before the canonical rules compiles with its canonical form).
    fn check(&self, strict: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail =
            |field: &str, message: &str| errors.push(FieldError::new(field, message.to_owned()));
        if let Err(message) = check_name(&self.name) {
            fail("name", &message);
        }
        let m = &self.matcher;
        match (&m.path_prefix, &m.exact_path) {
            (Some(_), Some(_)) => fail("match", "give a pathPrefix or an exactPath, not both"),
            (None, None) => fail("match", "give a pathPrefix or an exactPath"),
            (Some(p), None) | (None, Some(p)) => match canonicalize_path(p) {
                Err(e) => fail("match", &format!("invalid path: {e}")),
                Ok(canonical) if strict && canonical != *p => {
                    fail("match", &format!("use the canonical form: {canonical}"))
                }
                Ok(canonical) if canonical.contains(';') || canonical.contains("%3B") => fail(
                    "match",
                    "a route path cannot hold ';' (parameters are ignored when matching)",
                ),
                Ok(_) => {}
            },
        }
        if m.methods
            .iter()
            .any(|method| !METHODS.contains(&method.as_str()))
        {
            fail(
                "match.methods",
                "use upper-case HTTP methods (GET, POST, ...)",
            );
        }
        if let Some(Err(e)) = m.host.as_deref().map(canonical_host) {
            fail(
                "match.host",
                &format!("a host name without scheme or path: {e}"),
            );
        }
        if let Some(upstream) = &self.upstream
            && !(upstream.starts_with("http://") || upstream.starts_with("https://"))
        {
            fail("upstream", "an absolute http(s) URL");
        }
        if self.policy.credentials.is_empty() {
            fail(
                "policy.credentials",
                "accept at least one credential type (or \"none\" for a public route)",
            );
        }
        if self.policy.credentials.contains(&CredentialType::None)
            && self.policy.credentials.len() > 1
        {
            fail(
                "policy.credentials",
                "\"none\" (public) cannot be combined with other credential types",
            );
        }
        for (i, rule) in self.policy.claims.iter().enumerate() {
            if let Err(message) = rule.check() {
                errors.push(FieldError::new(&format!("policy.claims[{i}]"), message));
            }
        }
        if self
            .policy
            .forward_claims
            .keys()
            .any(|h| !valid_header_name(h))
        {
            errors.push(FieldError::new(
                "policy.forwardClaims",
                "header names are letters, digits and '-'".into(),
            ));
        }
        errors
    }
}

impl ClaimRule {
    fn check(&self) -> Result<(), String> {
        if self.path.is_empty() || self.path.split('.').any(str::is_empty) {
            return Err("path must be a claim name or a dotted path".into());
        }
        match (self.op, &self.value) {
            (ClaimOp::Exists, None) => Ok(()),
            (ClaimOp::Exists, Some(_)) => Err("`exists` takes no value".into()),
            (ClaimOp::OneOf, Some(Value::Array(_))) => Ok(()),
            (ClaimOp::OneOf, _) => Err("`one_of` needs an array value".into()),
            (ClaimOp::Matches, Some(Value::String(pattern))) => compile(pattern).map(|_| ()),
            (ClaimOp::Matches, _) => Err("`matches` needs a regex string".into()),
            (_, None) => Err("this operator needs a value".into()),
            (_, Some(_)) => Ok(()),
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(format!("regex longer than {MAX_PATTERN_LEN} characters"));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(MAX_REGEX_SIZE)
        .build()
        .map_err(|e| format!("invalid regex: {e}"))
}

/// Looks up a dotted claim path.
pub fn claim_at<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

impl RoutePolicy {
    /// The identity headers sent upstream for a verified token: one `(header, value)` per
    /// forwarded claim that is present (`$client_id`, `$scopes` and `$server` name the verified
    /// results; anything else is a claim path). Header validity is the HTTP layer's check.
    /// `sub` and `iss` come from the verified fields, so the default headers never need the
    /// payload parsed into a map (a per-request cost when the token cache is off).
    pub fn identity_headers(&self, verified: &VerifiedToken) -> Vec<(&str, String)> {
        self.forward_claims
            .iter()
            .filter_map(|(header, claim)| {
                let value = match claim.as_str() {
                    "$client_id" => verified.client_id.clone(),
                    "$scopes" => Some(verified.scopes.join(" ")),
                    "$server" => Some(verified.server_name.to_string()),
                    "sub" if verified.subject.is_some() => verified.subject.clone(),
                    "iss" if verified.issuer.is_some() => verified.issuer.clone(),
                    path => claim_at(verified.claims(), path).and_then(header_text),
                }?;
                Some((header.as_str(), value))
            })
            .collect()
    }

    /// The identity headers for a Cloud Service API Key session (credential `api_key`), which has
    /// no claims: every header forwarding `sub` carries the admin's login, and `X-Auth-Subject`
    /// does when no header forwards `sub`.
    pub fn session_identity_headers(&self, login: &str) -> Vec<(&str, String)> {
        let mut headers: Vec<(&str, String)> = self
            .forward_claims
            .iter()
            .filter(|(_, claim)| claim.as_str() == "sub")
            .map(|(header, _)| (header.as_str(), login.to_owned()))
            .collect();
        if headers.is_empty() {
            headers.push(("X-Auth-Subject", login.to_owned()));
        }
        headers
    }
}

/// A claim value as header text: strings as they are, numbers and booleans printed, arrays of
/// strings space-separated; objects and null are not forwarded.
fn header_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// A route prepared for matching (regexes compiled once, host and path in matching form).
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    /// Stable id.
    pub id: String,
    /// The definition.
    pub definition: RouteDefinition,
    patterns: Vec<Option<Regex>>,
    /// The canonical host, when the route names one.
    host: Option<Host>,
    /// The path as compared: canonical, decoded ([`match_view`]); a prefix without its
    /// trailing `/`.
    path: Vec<u8>,
    /// `exactPath` (else `pathPrefix`).
    exact: bool,
}

/// Why a route denies a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDenial {
    /// The token's server is not among the route's servers.
    ServerNotAllowed(String),
    /// Scopes missing; the scope string to name in the challenge.
    MissingScopes(String),
    /// A claim rule failed: index and path.
    ClaimRuleFailed {
        /// Rule index.
        index: usize,
        /// Claim path.
        path: String,
    },
}

impl std::fmt::Display for RouteDenial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteDenial::ServerNotAllowed(server) => write!(
                f,
                "tokens from server {server} are not accepted on this route"
            ),
            RouteDenial::MissingScopes(scopes) => write!(f, "missing scope: {scopes}"),
            RouteDenial::ClaimRuleFailed { index, path } => {
                write!(f, "claim rule #{index} on `{path}` failed")
            }
        }
    }
}

impl CompiledRoute {
    /// Prepares a route; fails with field errors if it is invalid.
    pub fn new(id: &str, definition: RouteDefinition) -> Result<Self, Vec<FieldError>> {
        let errors = definition.check(false);
        if !errors.is_empty() {
            return Err(errors);
        }
        let m = &definition.matcher;
        let host = m.host.as_deref().and_then(|h| canonical_host(h).ok());
        let (exact, raw_path) = match (&m.exact_path, &m.path_prefix) {
            (Some(p), _) => (true, p.as_str()),
            (None, Some(p)) => (false, p.as_str()),
            (None, None) => (false, "/"),
        };
        // Checked above: every path here canonicalises.
        let canonical = canonicalize_path(raw_path)
            .map_err(|e| vec![FieldError::new("match", format!("invalid path: {e}"))])?;
        let mut path = match_view(&canonical).into_owned();
        if !exact {
            while path.last() == Some(&b'/') {
                path.pop();
            }
        }
        let patterns = definition
            .policy
            .claims
            .iter()
            .map(|rule| match (rule.op, &rule.value) {
                (ClaimOp::Matches, Some(Value::String(p))) => compile(p).ok(),
                _ => None,
            })
            .collect();
        Ok(Self {
            id: id.to_owned(),
            definition,
            patterns,
            host,
            path,
            exact,
        })
    }

    /// How specific this route's match is (higher wins): exact path over prefix, longer prefix
    /// (decoded), host, methods.
    fn specificity(&self) -> (u8, usize, u8, u8) {
        let m = &self.definition.matcher;
        (
            u8::from(self.exact),
            self.path.len(),
            u8::from(self.host.is_some()),
            u8::from(!m.methods.is_empty()),
        )
    }

    /// Whether the route matches; `view` is the request's [`match_view`].
    fn matches(&self, method: &str, host: Option<&Host>, view: &[u8]) -> bool {
        let m = &self.definition.matcher;
        if !m.methods.is_empty() && !m.methods.iter().any(|x| x == method) {
            return false;
        }
        if let Some(want) = &self.host
            && host != Some(want)
        {
            return false;
        }
        let same = |a: &[u8], b: &[u8]| {
            if m.case_insensitive {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let want = self.path.as_slice();
        if self.exact {
            return same(view, want);
        }
        // Segment boundary: the prefix, then the end or a `/`.
        want.is_empty()
            || (view.len() >= want.len()
                && same(&view[..want.len()], want)
                && view.get(want.len()).is_none_or(|&b| b == b'/'))
    }

    /// Evaluates the policy for a verified token from server `server_name`.
    pub fn authorize(
        &self,
        server_name: &str,
        scopes: &[String],
        claims: &Map<String, Value>,
    ) -> Result<(), RouteDenial> {
        let policy = &self.definition.policy;
        if !policy.servers.is_empty() && !policy.servers.iter().any(|s| s == server_name) {
            return Err(RouteDenial::ServerNotAllowed(server_name.to_owned()));
        }
        let has = |s: &String| scopes.contains(s);
        let missing: Vec<&String> = policy.scopes.all_of.iter().filter(|s| !has(s)).collect();
        if !missing.is_empty() {
            return Err(RouteDenial::MissingScopes(
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
        }
        if !policy.scopes.any_of.is_empty() && !policy.scopes.any_of.iter().any(has) {
            return Err(RouteDenial::MissingScopes(policy.scopes.any_of.join(" ")));
        }
        for (index, rule) in policy.claims.iter().enumerate() {
            let value = claim_at(claims, &rule.path);
            let ok = match (rule.op, value, &rule.value) {
                (ClaimOp::Exists, v, _) => v.is_some(),
                (_, None, _) => false,
                (ClaimOp::Equals, Some(v), Some(want)) => v == want,
                (ClaimOp::OneOf, Some(v), Some(Value::Array(options))) => options.contains(v),
                (ClaimOp::Contains, Some(Value::Array(items)), Some(want)) => items.contains(want),
                (ClaimOp::Contains, Some(Value::String(text)), Some(Value::String(want))) => {
                    text.split(' ').any(|t| t == want)
                }
                (ClaimOp::Matches, Some(Value::String(text)), _) => self.patterns[index]
                    .as_ref()
                    .is_some_and(|re| re.is_match(text)),
                _ => false,
            };
            if !ok {
                return Err(RouteDenial::ClaimRuleFailed {
                    index,
                    path: rule.path.clone(),
                });
            }
        }
        Ok(())
    }
}

/// All routes of an org, for matching.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Most specific first; a lookup answers the first route that matches.
    routes: Vec<CompiledRoute>,
    /// Case-sensitive routes filed by the segments of their path.
    by_path: SegmentNode,
    /// `caseInsensitive` routes filed by the ASCII-lowercased segments of their path.
    by_folded_path: SegmentNode,
    /// Routes that can match any path (the catch-all prefix `/`).
    everywhere: Vec<usize>,
}

/// One level of the route index: the routes whose path has exactly the segments that lead
/// here, and the next segments. A route can only match a request whose path segments begin
/// with its own (a prefix ends on a segment boundary; an exact path is equal), so a lookup
/// walks the request's segments from the root and tries only the routes it passes.
#[derive(Debug, Clone, Default)]
struct SegmentNode {
    /// Positions in the table (ascending) of the routes whose path ends here.
    routes: Vec<usize>,
    children: HashMap<Box<[u8]>, SegmentNode>,
}

impl SegmentNode {
    /// Files route `position` under the segments of `path` (`/a/b` → `a`, `b`; `/a/` → `a`, ``).
    fn insert(&mut self, path: &[u8], position: usize) {
        let mut node = self;
        for segment in path.split(|&b| b == b'/') {
            node = node.children.entry(segment.into()).or_default();
        }
        node.routes.push(position);
    }

    /// The first position (in table order) of a route filed on the way down `path` (the
    /// request's segments, lowercased by the caller for the folded index) that `matches`.
    fn first_match(&self, path: &[u8], matches: impl Fn(usize) -> bool) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut node = self;
        for segment in path.split(|&b| b == b'/') {
            let Some(next) = node.children.get(segment) else {
                break;
            };
            node = next;
            // Positions ascend, so a list starting after the best so far cannot improve it.
            let found = node
                .routes
                .iter()
                .copied()
                .take_while(|&i| best.is_none_or(|b| i < b))
                .find(|&i| matches(i));
            best = found.or(best);
        }
        best
    }
}

/// Tables up to this many routes are scanned instead of looked up in the index.
const SCAN_UP_TO: usize = 8;

impl RouteTable {
    /// Builds the table (most specific first) and its index (see [`SegmentNode`]): a route is
    /// filed under its path's segments (ASCII-lowercased when `caseInsensitive`), the catch-all
    /// prefix in `everywhere`. The answer is always the first matching route in table order,
    /// exactly what a scan of the whole table finds (a property test holds the two equal).
    pub fn new(mut routes: Vec<CompiledRoute>) -> Self {
        routes.sort_by(|a, b| {
            b.specificity()
                .cmp(&a.specificity())
                .then_with(|| a.definition.name.cmp(&b.definition.name))
        });
        let mut table = Self {
            routes,
            by_path: SegmentNode::default(),
            by_folded_path: SegmentNode::default(),
            everywhere: Vec::new(),
        };
        for (i, route) in table.routes.iter().enumerate() {
            match route.path.strip_prefix(b"/") {
                None => table.everywhere.push(i),
                Some(path) if route.definition.matcher.case_insensitive => {
                    table.by_folded_path.insert(&path.to_ascii_lowercase(), i);
                }
                Some(path) => table.by_path.insert(path, i),
            }
        }
        table
    }

    /// The most specific route matching the request, if any (no match = deny). The query never
    /// takes part; see the module documentation for the path rules.
    pub fn route(
        &self,
        method: &str,
        host: Option<&Host>,
        target: &RequestTarget,
    ) -> Option<&CompiledRoute> {
        let view = match_view(target.path());
        // A few routes are scanned faster than a segment is hashed; the answer is the same.
        let Some(path) = view
            .strip_prefix(b"/")
            .filter(|_| self.routes.len() > SCAN_UP_TO)
        else {
            return self.routes.iter().find(|r| r.matches(method, host, &view));
        };
        let matches = |i: usize| self.routes[i].matches(method, host, &view);
        let mut best = self.by_path.first_match(path, matches);
        if !self.by_folded_path.children.is_empty() {
            let folded = if path.iter().any(u8::is_ascii_uppercase) {
                Cow::Owned(path.to_ascii_lowercase())
            } else {
                Cow::Borrowed(path)
            };
            best = best
                .into_iter()
                .chain(self.by_folded_path.first_match(&folded, matches))
                .min();
        }
        best = best
            .into_iter()
            .chain(self.everywhere.iter().copied().find(|&i| matches(i)))
            .min();
        best.map(|i| &self.routes[i])
    }

    /// The reference lookup the index must agree with: the first route of the whole table that
    /// matches (tests only).
    #[cfg(test)]
    fn route_linear(
        &self,
        method: &str,
        host: Option<&Host>,
        target: &RequestTarget,
    ) -> Option<&CompiledRoute> {
        let view = match_view(target.path());
        self.routes.iter().find(|r| r.matches(method, host, &view))
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route, most specific first.
    pub fn iter(&self) -> impl Iterator<Item = &CompiledRoute> {
        self.routes.iter()
    }
}

/// The text a canonical path is compared on: every escape decoded once (except `%2F` and `%5C`,
/// which a canonical path never holds; kept as text should one appear), and each segment cut at
/// its first `;` (raw or `%3B`), as lenient upstreams read it. Borrowed (no allocation) when the
/// path holds neither `%` nor `;`, the common case.
fn match_view(path: &str) -> Cow<'_, [u8]> {
    let bytes = path.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b';') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_parameters = false;
    let mut i = 0;
    while i < bytes.len() {
        let mut b = bytes[i];
        let mut width = 1;
        if b == b'%'
            && let Some(v) = bytes.get(i + 1..i + 3).and_then(decode_pair)
            && v != b'/'
            && v != b'\\'
        {
            b = v;
            width = 3;
        }
        if b == b'/' && width == 1 {
            in_parameters = false;
            out.push(b);
        } else if b == b';' {
            in_parameters = true;
        } else if !in_parameters {
            out.push(b);
        }
        i += width;
    }
    Cow::Owned(out)
}

fn decode_pair(pair: &[u8]) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match pair {
        [hi, lo] => Some(u8::try_from(digit(*hi)? << 4 | digit(*lo)?).ok()?),
        _ => None,
    }
}

#[cfg(test)]
mod index_tests;
#[cfg(test)]
mod tests;

//! Which headers describe the request a proxy asks about, and which client address to believe
//! (DESIGN.md §6 "Forward auth"; issue 10).
//!
//! The rule: **the deployment chooses, never the client.** A proxy in front of `/authz` passes
//! the client's own headers through (nginx passes a client's `X-Forwarded-*`; Traefik and Caddy
//! pass a client's `X-Original-*`), so any family may have been written by the client.
//!
//! - [`ForwardAuthMode::Nginx`] reads only `X-Original-Method`, `X-Original-URI` and
//!   `X-Original-Host`; [`ForwardAuthMode::Forwarded`] only `X-Forwarded-Method`/`-Uri`/`-Host`,
//!   and only from a trusted proxy; [`ForwardAuthMode::Envoy`] only the `/authz` request itself
//!   (its method, the path after `/authz`, its `Host`).
//! - [`ForwardAuthMode::Auto`] (the default) reads every family present; when more than one
//!   describes the request they must agree on method, host and canonical path, or the request is
//!   refused. With one family present, that one counts. This is safe behind every proxy with no
//!   setting: a client can add a family, but not make it disagree without being refused.
//! - Hosts: a family's host header (`X-Original-Host`, `X-Forwarded-Host`) counts in `auto` only
//!   together with that family's method and URI (a host header alone may be the client's), and
//!   when several families describe the request, either all of them or none name the host, and
//!   all the named hosts agree. Without a family host, the `/authz` request's own `Host` is used
//!   (the original one for Envoy; for nginx without `X-Original-Host`, Portcullis's own address,
//!   so routes bound to a host simply do not match).
//! - `X-Forwarded-*` (and `X-Forwarded-For`) are believed only when the TCP peer is one of
//!   [`TrustedProxies`] (default: loopback).
//! - A routing header sent twice, a routing header spelled with `_` for `-` (some servers fold
//!   one into the other), a method-override header that names another method, a target the
//!   canonicaliser refuses, or a family without a method or without a target: refused, never
//!   decided on. Nothing here falls back to a guess.
//!
//! Pure apart from reading the header map: the HTTP handler turns [`OriginalRequestError`] into
//! the 400 answer.

use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use portcullis_policy::target::{self, Host, RequestTarget, TargetError};

pub use portcullis_runtime::deployment::{ForwardAuthMode, TrustedProxies, client_ip};

/// The request a proxy asks `/authz` about, as decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// Method (case-sensitive, as RFC 9110 §9.1 says; `get` is not `GET`).
    pub method: Method,
    /// Canonical host, when any source names one.
    pub host: Option<Host>,
    /// Canonical target.
    pub target: RequestTarget,
}

/// Why the original request cannot be decided on (answered 400 `invalid_request_target`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginalRequestError {
    /// A target the canonicaliser refuses.
    #[error("the request target is ambiguous or malformed ({0})")]
    Target(TargetError),
    /// A host that is not a valid host.
    #[error("the host is malformed ({0})")]
    Host(TargetError),
    /// A routing header appears more than once.
    #[error("header {0} is sent more than once")]
    Repeated(&'static str),
    /// A routing header spelled with underscores, which some servers read as the dashed name.
    #[error("header {0} is spelled with underscores")]
    Underscored(String),
    /// A routing header whose value is not visible ASCII.
    #[error("header {0} is not valid text")]
    NotText(&'static str),
    /// A method that is not an HTTP method token.
    #[error("the method is not a valid HTTP method")]
    InvalidMethod,
    /// A family names a target but no method, or a method but no target.
    #[error("the {0} headers describe the request only in part")]
    Incomplete(&'static str),
    /// No family describes the request.
    #[error("no header describes the original request (see the forward-auth recipes)")]
    Missing,
    /// Two families describe different requests.
    #[error("the {first} and {second} headers describe different requests ({what})")]
    Disagree {
        /// One family.
        first: &'static str,
        /// Another.
        second: &'static str,
        /// What differs: method, host or path.
        what: &'static str,
    },
    /// An absolute-form target whose host is not the request's host.
    #[error("the absolute-form target names another host")]
    AuthorityMismatch,
    /// A method-override header names another method than the one decided on.
    #[error("a method-override header names another method")]
    MethodOverride,
    /// Two different `Host` values (the header and the HTTP/2 authority, or two headers).
    #[error("the request names two different hosts")]
    ConflictingHost,
}

impl OriginalRequestError {
    /// Internal reason for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Target(err) => err.code(),
            Self::Host(_) => "invalid_host",
            Self::Repeated(_) => "repeated_routing_header",
            Self::Underscored(_) => "underscored_routing_header",
            Self::NotText(_) => "routing_header_not_text",
            Self::InvalidMethod => "invalid_method",
            Self::Incomplete(_) => "incomplete_routing_headers",
            Self::Missing => "missing_routing_headers",
            Self::Disagree { .. } => "routing_headers_disagree",
            Self::AuthorityMismatch => "authority_mismatch",
            Self::MethodOverride => "method_override",
            Self::ConflictingHost => "conflicting_host",
        }
    }
}

/// Headers that make a server act as if the request had another method.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

// The names a decision reads, parsed once: a `&str` name is parsed and validated again on every
// `HeaderMap` lookup.
static HOST: HeaderName = header::HOST;
static X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
static X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
static X_ORIGINAL_HOST: HeaderName = HeaderName::from_static("x-original-host");
static X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
static X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
/// [`METHOD_OVERRIDE_HEADERS`] as header names.
pub(crate) static METHOD_OVERRIDES: [HeaderName; 3] = [
    HeaderName::from_static(METHOD_OVERRIDE_HEADERS[0]),
    HeaderName::from_static(METHOD_OVERRIDE_HEADERS[1]),
    HeaderName::from_static(METHOD_OVERRIDE_HEADERS[2]),
];

/// Every header name a routing decision may read; their `_` spellings are refused.
const ROUTING_HEADERS: [&str; 7] = [
    "x-original-method",
    "x-original-uri",
    "x-original-host",
    "x-forwarded-method",
    "x-forwarded-uri",
    "x-forwarded-host",
    "x-forwarded-prefix",
];

/// One header family's reading of the request's method and target.
struct Reading {
    family: &'static str,
    method: Method,
    target: RequestTarget,
}

/// The single value of `name`, refusing a repeated header and non-text values.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &'static HeaderName,
) -> Result<Option<&'a str>, OriginalRequestError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OriginalRequestError::Repeated(name.as_str()));
    }
    let text = first
        .to_str()
        .map_err(|_| OriginalRequestError::NotText(name.as_str()))?;
    Ok(Some(text))
}

fn parse_method(text: &str) -> Result<Method, OriginalRequestError> {
    let text = text.trim();
    Method::from_bytes(text.as_bytes()).map_err(|_| OriginalRequestError::InvalidMethod)
}

fn parse_host(text: &str) -> Result<Host, OriginalRequestError> {
    target::canonical_host(text).map_err(OriginalRequestError::Host)
}

/// The `Host` of the `/authz` request itself (or of a proxied request): the header, or the
/// HTTP/2 `:authority`; both present and different, or the header twice, is refused.
pub fn request_host(headers: &HeaderMap, uri: &Uri) -> Result<Option<Host>, OriginalRequestError> {
    let header = single(headers, &HOST)?.map(parse_host).transpose()?;
    let authority = uri
        .authority()
        .map(|a| parse_host(a.as_str()))
        .transpose()?;
    match (header, authority) {
        (Some(h), Some(a)) if h != a => Err(OriginalRequestError::ConflictingHost),
        (Some(h), _) => Ok(Some(h)),
        (None, a) => Ok(a),
    }
}

/// A family's reading from its method and URI headers: both or neither (a family that names
/// only one of them describes the request in part, which is refused).
fn family_reading(
    headers: &HeaderMap,
    family: &'static str,
    [method_name, uri_name]: [&'static HeaderName; 2],
) -> Result<Option<Reading>, OriginalRequestError> {
    match (single(headers, method_name)?, single(headers, uri_name)?) {
        (None, None) => Ok(None),
        (Some(method), Some(uri)) => Ok(Some(Reading {
            family,
            method: parse_method(method)?,
            target: target::canonicalize_target(uri.as_bytes())
                .map_err(OriginalRequestError::Target)?,
        })),
        _ => Err(OriginalRequestError::Incomplete(family)),
    }
}

/// A family's host header, when sent. Proxies often set `X-Forwarded-Host` alone (with no
/// method or URI), so a host counts on its own: it must agree with every other host named.
fn family_host(
    headers: &HeaderMap,
    family: &'static str,
    name: &'static HeaderName,
) -> Result<Option<(&'static str, Host)>, OriginalRequestError> {
    single(headers, name)?
        .map(|text| parse_host(text).map(|host| (family, host)))
        .transpose()
}

const NGINX: &str = "X-Original-*";
const FORWARDED: &str = "X-Forwarded-*";

fn nginx_reading(headers: &HeaderMap) -> Result<Option<Reading>, OriginalRequestError> {
    family_reading(headers, NGINX, [&X_ORIGINAL_METHOD, &X_ORIGINAL_URI])
}

fn forwarded_reading(headers: &HeaderMap) -> Result<Option<Reading>, OriginalRequestError> {
    // A prefix the proxy stripped would change which path the upstream serves; Portcullis
    // decides on whole paths only.
    if single(headers, &X_FORWARDED_PREFIX)?.is_some() {
        return Err(OriginalRequestError::Incomplete(FORWARDED));
    }
    family_reading(headers, FORWARDED, [&X_FORWARDED_METHOD, &X_FORWARDED_URI])
}

/// The Envoy reading: the `/authz` request's own method and the target after `/authz`. Present
/// only when something follows `/authz` (a bare `/authz` describes no request).
fn envoy_reading(
    method: &Method,
    uri: &Uri,
    always: bool,
) -> Result<Option<Reading>, OriginalRequestError> {
    let raw = uri.path_and_query().map_or("/authz", |pq| pq.as_str());
    let rest = raw.strip_prefix("/authz").unwrap_or(raw);
    if rest.is_empty() || rest.starts_with('?') {
        if always {
            return Err(OriginalRequestError::Missing);
        }
        return Ok(None);
    }
    Ok(Some(Reading {
        family: "/authz path",
        method: method.clone(),
        target: target::canonicalize_target(rest.as_bytes())
            .map_err(OriginalRequestError::Target)?,
    }))
}

/// Reads the original request at `/authz` according to `mode` (see the module doc).
pub fn original_request(
    mode: ForwardAuthMode,
    trusted_peer: bool,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<OriginalRequest, OriginalRequestError> {
    for name in headers.keys() {
        let name = name.as_str();
        if name.contains('_') {
            let dashed = name.replace('_', "-");
            if ROUTING_HEADERS.contains(&dashed.as_str())
                || METHOD_OVERRIDE_HEADERS.contains(&dashed.as_str())
            {
                return Err(OriginalRequestError::Underscored(name.to_owned()));
            }
        }
    }
    let own_host = request_host(headers, uri)?;
    let mut readings: Vec<Reading> = Vec::with_capacity(2);
    let mut hosts: Vec<(&'static str, Host)> = Vec::with_capacity(2);
    let read_nginx = matches!(mode, ForwardAuthMode::Nginx | ForwardAuthMode::Auto);
    let read_forwarded =
        trusted_peer && matches!(mode, ForwardAuthMode::Forwarded | ForwardAuthMode::Auto);
    // In `auto`, a family's host counts only with that family's method and URI: a host header
    // alone (which a client can add, and a proxy may pass through) is not evidence that the
    // proxy wrote it. A named family is the deployment's word that the proxy writes it.
    let named = mode != ForwardAuthMode::Auto;
    if read_nginx {
        let reading = nginx_reading(headers)?;
        if named || reading.is_some() {
            hosts.extend(family_host(headers, NGINX, &X_ORIGINAL_HOST)?);
        }
        readings.extend(reading);
    }
    if read_forwarded {
        let reading = forwarded_reading(headers)?;
        if named || reading.is_some() {
            hosts.extend(family_host(headers, FORWARDED, &X_FORWARDED_HOST)?);
        }
        readings.extend(reading);
    }
    let envoy = match mode {
        ForwardAuthMode::Envoy => envoy_reading(method, uri, true)?,
        ForwardAuthMode::Auto => envoy_reading(method, uri, false)?,
        ForwardAuthMode::Nginx | ForwardAuthMode::Forwarded => None,
    };
    // Envoy forwards the original Host on the check request itself: that Host is the fallback
    // below, never a family host (for nginx or Caddy it is Portcullis's own address).
    readings.extend(envoy);
    // When several families describe the request and only some name a host, the host cannot
    // be cross-checked: the one naming it may be the client's. Refused, like any disagreement.
    if readings.len() > 1 && !hosts.is_empty() && hosts.len() < readings.len() {
        return Err(OriginalRequestError::Disagree {
            first: readings[0].family,
            second: hosts[0].0,
            what: "host",
        });
    }
    let mut readings = readings.into_iter();
    let Some(first) = readings.next() else {
        return Err(OriginalRequestError::Missing);
    };
    for other in readings {
        let disagree = |what| OriginalRequestError::Disagree {
            first: first.family,
            second: other.family,
            what,
        };
        if other.method != first.method {
            return Err(disagree("method"));
        }
        if other.target.path() != first.target.path()
            || other.target.query() != first.target.query()
        {
            return Err(disagree("path"));
        }
    }
    let mut hosts = hosts.into_iter();
    let host = hosts.next();
    for (family, other) in hosts {
        if let Some((first, host)) = &host
            && *host != other
        {
            return Err(OriginalRequestError::Disagree {
                first,
                second: family,
                what: "host",
            });
        }
    }
    let host = host.map(|(_, host)| host);
    // The family's own host, else the `/authz` request's Host (Envoy forwards the original one;
    // an nginx recipe that sets no X-Original-Host leaves routes with a host unmatched).
    let host = host.or(own_host);
    if let Some(authority) = first.target.authority() {
        let named = parse_host(authority)?;
        if host.as_ref() != Some(&named) {
            return Err(OriginalRequestError::AuthorityMismatch);
        }
    }
    check_method_override(headers, &first.method)?;
    Ok(OriginalRequest {
        method: first.method,
        host,
        target: first.target,
    })
}

/// A method-override header that names a different method would make the upstream act on a
/// method the route was not decided for.
pub fn check_method_override(
    headers: &HeaderMap,
    method: &Method,
) -> Result<(), OriginalRequestError> {
    for name in &METHOD_OVERRIDES {
        for value in headers.get_all(name) {
            let same = value
                .to_str()
                .ok()
                .is_some_and(|v| v.trim() == method.as_str());
            if !same {
                return Err(OriginalRequestError::MethodOverride);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;

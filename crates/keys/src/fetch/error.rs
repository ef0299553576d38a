//! [`FetchError`]: why a fetch failed, one variant per outbound-fetch rule, with its stable
//! `code()` and admin-facing message; and the two readers of a failure's cause chain
//! ([`tls_cause`], [`error_chain`]) that the fetcher and the client builder use to name it.
//!
//! Which failure maps to which variant is decided where the failure happens (`policy.rs`,
//! `resolver.rs`, `clients.rs`, `fetcher.rs`); this module only defines and describes them.

use std::error::Error as StdError;
use std::net::IpAddr;
use std::time::Duration;

use portcullis_policy::sanitize::untrusted;

use crate::address::ForbiddenRange;

/// Why a fetch failed. Every outbound-fetch rule has its own variant; `Display` is an
/// admin-facing sentence (shown as `last_fetch_error` and by Validate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not a parseable absolute URL, too long, or without host.
    #[error("`{url}` is not a usable URL: {reason}")]
    InvalidUrl {
        /// The URL (sanitized).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Plain `http` without `allow_insecure_jwks`.
    #[error(
        "`{url}` uses plain http; JWKS and metadata URLs must use https (http is accepted only when the deployment sets allow_insecure_jwks, for tests and demos)"
    )]
    InsecureScheme {
        /// The URL (sanitized).
        url: String,
    },
    /// Plain `http` to a host that is not loopback (even with `allow_insecure_jwks`).
    #[error(
        "`{url}` uses plain http to a host that is not loopback; http is accepted only to 127.0.0.1, [::1] or localhost, and only with allow_insecure_jwks"
    )]
    HttpNotLoopback {
        /// The URL (sanitized).
        url: String,
    },
    /// A scheme other than `https` / `http`.
    #[error("`{url}` uses the unsupported scheme `{scheme}`; only https is accepted")]
    UnsupportedScheme {
        /// The URL (sanitized).
        url: String,
        /// The scheme.
        scheme: String,
    },
    /// User name or password in the URL.
    #[error("`{url}` contains a user name or password; credentials in URLs are not accepted")]
    CredentialsInUrl {
        /// The URL with the credentials removed.
        url: String,
    },
    /// The host is, or resolves to, an address in a forbidden range.
    #[error(
        "refused to connect to {}: {range} addresses are blocked to prevent server-side request forgery; {}",
        host_and_address(.host, .address),
        forbidden_hint(*.range)
    )]
    ForbiddenAddress {
        /// The host as written in the URL.
        host: String,
        /// The literal or resolved address that was refused.
        address: IpAddr,
        /// Its range.
        range: ForbiddenRange,
    },
    /// DNS resolution failed.
    #[error("cannot resolve {host}: {message}")]
    Dns {
        /// The host name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// DNS returned no address.
    #[error("{host} does not resolve to any address")]
    NoAddresses {
        /// The host name.
        host: String,
    },
    /// More redirects than allowed.
    #[error("more than {max} redirects (the next one pointed to `{location}`)")]
    TooManyRedirects {
        /// The limit.
        max: usize,
        /// The redirect that was not followed.
        location: String,
    },
    /// A redirect target broke a rule; nothing was sent to it.
    #[error("redirect to `{location}` refused: {reason}")]
    RedirectRefused {
        /// The redirect target (sanitized).
        location: String,
        /// The rule it broke.
        reason: Box<FetchError>,
    },
    /// The connection could not be established (refused, reset, TLS failure, ...).
    #[error("cannot connect to `{url}`: {message}")]
    Connect {
        /// The URL being fetched.
        url: String,
        /// The cause chain.
        message: String,
    },
    /// The server's certificate was not accepted (unknown issuer, expired, wrong name, ...).
    #[error(
        "the TLS certificate of `{url}` was not accepted: {message}; if this identity provider's certificate comes from a private certificate authority, add that authority's certificate as the server's CA bundle (caBundlePem)"
    )]
    TlsCertificate {
        /// The URL being fetched.
        url: String,
        /// What the certificate check said.
        message: String,
    },
    /// The TLS handshake failed for another reason (protocol version, alert from the server, ...).
    #[error("the TLS handshake with `{url}` failed: {message}")]
    TlsHandshake {
        /// The URL being fetched.
        url: String,
        /// What TLS said.
        message: String,
    },
    /// The server's extra CA bundle cannot be used; nothing was fetched.
    #[error("the server's CA bundle (caBundlePem) cannot be used: the bundle {reason}")]
    CaBundle {
        /// Why.
        reason: String,
    },
    /// No connection within the connect timeout.
    #[error("no connection to `{url}` within {} ms", .after.as_millis())]
    ConnectTimeout {
        /// The URL being fetched.
        url: String,
        /// The connect timeout.
        after: Duration,
    },
    /// The whole fetch (redirects and body included) exceeded the total timeout.
    #[error("`{url}` did not answer completely within {} ms", .after.as_millis())]
    Timeout {
        /// The URL being fetched.
        url: String,
        /// The total timeout.
        after: Duration,
    },
    /// A status other than 2xx (or 304 to a conditional request).
    #[error("`{url}` answered HTTP {status}; a 2xx answer is required")]
    Status {
        /// The URL that answered.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The answer is not of an accepted JSON media type.
    #[error("`{url}` answered with content type `{found}`; expected {expected}")]
    ContentType {
        /// The URL that answered.
        url: String,
        /// The `Content-Type` received (sanitized), or `none`.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The body exceeds the limit (declared or counted while streaming).
    #[error("the answer from `{url}` is larger than the {limit}-byte limit")]
    BodyTooLarge {
        /// The URL that answered.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// Reading the body failed midway.
    #[error("reading the answer from `{url}` failed: {message}")]
    BodyRead {
        /// The URL that answered.
        url: String,
        /// The cause chain.
        message: String,
    },
    /// Any other transport failure.
    #[error("request to `{url}` failed: {message}")]
    Transport {
        /// The URL being fetched.
        url: String,
        /// The cause chain.
        message: String,
    },
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("cannot build the HTTP client: {0}")]
    ClientBuild(String),
}

impl FetchError {
    /// A stable machine-readable code (API `code`, metrics label).
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } => "invalid_url",
            FetchError::InsecureScheme { .. } => "insecure_scheme",
            FetchError::HttpNotLoopback { .. } => "http_not_loopback",
            FetchError::UnsupportedScheme { .. } => "unsupported_scheme",
            FetchError::CredentialsInUrl { .. } => "credentials_in_url",
            FetchError::ForbiddenAddress { .. } => "forbidden_address",
            FetchError::Dns { .. } => "dns_failed",
            FetchError::NoAddresses { .. } => "no_addresses",
            FetchError::TooManyRedirects { .. } => "too_many_redirects",
            FetchError::RedirectRefused { .. } => "redirect_refused",
            FetchError::Connect { .. } => "connect_failed",
            FetchError::TlsCertificate { .. } => "tls_certificate",
            FetchError::TlsHandshake { .. } => "tls_handshake",
            FetchError::CaBundle { .. } => "ca_bundle_invalid",
            FetchError::ConnectTimeout { .. } => "connect_timeout",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Status { .. } => "http_status",
            FetchError::ContentType { .. } => "content_type",
            FetchError::BodyTooLarge { .. } => "body_too_large",
            FetchError::BodyRead { .. } => "body_read_failed",
            FetchError::Transport { .. } => "transport",
            FetchError::ClientBuild(_) => "client_build",
        }
    }

    /// Whether the fetch was refused by a safety rule (as opposed to the remote end failing):
    /// retrying another URL on the same host will not help.
    pub fn is_policy_refusal(&self) -> bool {
        matches!(
            self,
            FetchError::InvalidUrl { .. }
                | FetchError::InsecureScheme { .. }
                | FetchError::HttpNotLoopback { .. }
                | FetchError::UnsupportedScheme { .. }
                | FetchError::CredentialsInUrl { .. }
                | FetchError::ForbiddenAddress { .. }
                | FetchError::RedirectRefused { .. }
        )
    }
}

fn host_and_address(host: &str, address: &IpAddr) -> String {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if literal.parse::<IpAddr>().is_ok_and(|ip| ip == *address) {
        address.to_string()
    } else {
        format!("{host} ({address})")
    }
}

fn forbidden_hint(range: ForbiddenRange) -> &'static str {
    match range {
        ForbiddenRange::CloudMetadata => {
            "cloud instance-metadata endpoints are reachable only if allowed_jwks_networks names this exact address"
        }
        ForbiddenRange::Loopback => {
            "loopback is reachable only with allow_insecure_jwks (tests and demos) or when allowed_jwks_networks lists it"
        }
        _ => {
            "if this identity provider is on an internal network, list its network in allowed_jwks_networks"
        }
    }
}

/// The TLS error behind a failed request, if any. rustls errors travel inside `io::Error`s
/// (nested: hyper wraps tokio-rustls's), whose `source()` skips the wrapped error itself, so
/// each `io::Error` is opened explicitly.
pub(super) fn tls_cause<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => io.source(),
            },
            None => current.source(),
        };
    }
    None
}

/// The messages of an error's causes, joined: reqwest's own `Display` only repeats the URL,
/// the causes hold the useful part ("connection refused", "invalid peer certificate", ...).
pub(super) fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = err.source();
    while let Some(current) = cause {
        let text = untrusted(&current.to_string());
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = current.source();
    }
    if parts.is_empty() {
        parts.push(untrusted(&err.to_string()));
    }
    parts.join(": ")
}

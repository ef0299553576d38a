//! The one way Portcullis reaches out to an identity provider: [`Fetcher::get_json`].
//!
//! Every URL fetched here is admin input, so every rule of DESIGN.md §3 is enforced, each with its
//! own [`FetchError`] variant:
//! - `https` only; plain `http` only when the deployment sets `allow_insecure_jwks` and only to a
//!   loopback host (DESIGN.md §1.1); no other scheme; no user name or password in the URL;
//! - no proxy from the environment;
//! - connect and total timeouts (5 s / 10 s by default; the total covers reading the body);
//! - at most 3 redirects, each target re-checked (scheme, credentials, literal address) before
//!   any connection is made;
//! - a 2xx answer (304 only for a conditional request), a JSON content type, and a body of at most
//!   1 MiB counted while streaming (a `Content-Length` is only used to refuse early);
//! - no connection to loopback, private, link-local, CGNAT, multicast, documentation,
//!   benchmarking, reserved or cloud-metadata addresses. Host names are resolved by our own
//!   resolver, which refuses the whole answer if any address in it is forbidden; literal IP
//!   hosts never reach a resolver, so they are checked on the URL (the first one and every
//!   redirect). `allowed_networks` opens ranges (on-premises IdPs); `allow_insecure` opens
//!   loopback.
//!
//! Certificate checking is per authorization server (DESIGN.md §1.1): [`Fetcher::for_server`]
//! gives a fetcher whose client honours the server's `verify_tls` and extra CA bundle, built by
//! the same function as the default client, so every rule above applies to it unchanged. TLS
//! failures have their own codes (`tls_certificate`, `tls_handshake`; an unusable bundle is
//! `ca_bundle_invalid`).

use std::collections::HashSet;
use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use portcullis_policy::ServerDefinition;
use portcullis_policy::ca_bundle::parse_ca_bundle;
use portcullis_policy::sanitize::untrusted;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::redirect;
use url::{Host, Url};

use crate::address::{self, ForbiddenRange};

/// Default connect timeout (DESIGN.md §3).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default total timeout, from connecting to the last body byte (DESIGN.md §3).
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default redirect limit (DESIGN.md §3).
pub const DEFAULT_MAX_REDIRECTS: usize = 3;
/// Default body limit: 1 MiB (DESIGN.md §3).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest URL accepted (the same bound as the configuration check).
pub const MAX_URL_LEN: usize = 2048;
/// Longest `ETag` / `Last-Modified` value kept; longer ones are dropped, not truncated.
pub const MAX_VALIDATOR_LEN: usize = 512;

/// The deployment's outbound-fetch rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// `allow_insecure_jwks`: plain `http` to loopback hosts, and loopback addresses, are allowed
    /// (tests and demos only).
    pub allow_insecure: bool,
    /// `allowed_jwks_networks`: forbidden addresses inside these networks may be reached
    /// (on-premises IdPs). Cloud-metadata addresses need an entry naming exactly that address.
    pub allowed_networks: Vec<IpNet>,
    /// Time allowed to establish a connection (DNS included).
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch, redirects and body included.
    pub total_timeout: Duration,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_insecure: false,
            allowed_networks: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl FetchPolicy {
    /// Whether a connection to `ip` is allowed; `Err` names the forbidden range.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), ForbiddenRange> {
        let Some(range) = address::classify(ip) else {
            return Ok(());
        };
        let canonical = address::canonical(ip);
        let listed = |exact_only: bool| {
            self.allowed_networks.iter().any(|net| {
                (!exact_only || net.prefix_len() == net.max_prefix_len())
                    && (net.contains(&ip) || net.contains(&canonical))
            })
        };
        let allowed = match range {
            ForbiddenRange::CloudMetadata => listed(true),
            ForbiddenRange::Loopback => self.allow_insecure || listed(false),
            _ => listed(false),
        };
        if allowed { Ok(()) } else { Err(range) }
    }

    /// Parses `url` and checks every rule that can be checked before connecting.
    pub fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        if url.len() > MAX_URL_LEN {
            return Err(FetchError::InvalidUrl {
                url: untrusted(url),
                reason: format!("longer than {MAX_URL_LEN} characters"),
            });
        }
        let parsed = Url::parse(url).map_err(|err| FetchError::InvalidUrl {
            url: untrusted(url),
            reason: err.to_string(),
        })?;
        self.check_target(&parsed)?;
        Ok(parsed)
    }

    /// The checks applied to the first URL and to every redirect target: scheme, credentials,
    /// and the address when the host is an IP literal (such hosts bypass the resolver).
    pub fn check_target(&self, url: &Url) -> Result<(), FetchError> {
        match url.scheme() {
            "https" => {}
            "http" if !self.allow_insecure => {
                return Err(FetchError::InsecureScheme { url: shown(url) });
            }
            "http" if !is_loopback_host(url) => {
                return Err(FetchError::HttpNotLoopback { url: shown(url) });
            }
            "http" => {}
            other => {
                return Err(FetchError::UnsupportedScheme {
                    url: shown(url),
                    scheme: untrusted(other),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::CredentialsInUrl { url: shown(url) });
        }
        let ip = match url.host() {
            None => {
                return Err(FetchError::InvalidUrl {
                    url: shown(url),
                    reason: "no host".into(),
                });
            }
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        self.check_address(ip)
            .map_err(|range| FetchError::ForbiddenAddress {
                host: url.host_str().map(untrusted).unwrap_or_default(),
                address: ip,
                range,
            })
    }

    /// Applies the address rules to a DNS answer: every address must be allowed, otherwise the
    /// whole answer is refused (never silently narrowed to the allowed part).
    pub fn check_resolved(
        &self,
        host: &str,
        answers: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, FetchError> {
        if answers.is_empty() {
            return Err(FetchError::NoAddresses {
                host: untrusted(host),
            });
        }
        for answer in &answers {
            self.check_address(answer.ip())
                .map_err(|range| FetchError::ForbiddenAddress {
                    host: untrusted(host),
                    address: answer.ip(),
                    range,
                })?;
        }
        Ok(answers)
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(v4)) => v4.is_loopback(),
        Some(Host::Ipv6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// A URL for messages: credentials removed, control characters escaped, length bounded.
fn shown(url: &Url) -> String {
    let mut clean = url.clone();
    if !clean.username().is_empty() || clean.password().is_some() {
        // Setting credentials only fails on URLs that cannot have them, which have none.
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
    }
    untrusted(clean.as_str())
}

/// What the caller expects to receive; decides `Accept` and the accepted content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// A JWK Set: `application/jwk-set+json` or `application/json`.
    JwkSet,
    /// An RFC 8414 / OIDC metadata document: `application/json`.
    Metadata,
}

impl Accept {
    fn header(self) -> &'static str {
        match self {
            Accept::JwkSet => "application/jwk-set+json, application/json",
            Accept::Metadata => "application/json",
        }
    }

    fn allows(self, media_type: &str) -> bool {
        match self {
            Accept::JwkSet => {
                media_type == "application/json" || media_type == "application/jwk-set+json"
            }
            Accept::Metadata => media_type == "application/json",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Accept::JwkSet => "application/jwk-set+json or application/json",
            Accept::Metadata => "application/json",
        }
    }
}

/// Validators from an earlier answer, for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// Sent as `If-None-Match`.
    pub etag: Option<String>,
    /// Sent as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

impl Validators {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// Caching information of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheInfo {
    /// `ETag`, kept for the next conditional request.
    pub etag: Option<String>,
    /// `Last-Modified`, kept for the next conditional request.
    pub last_modified: Option<String>,
    /// `Cache-Control: max-age` (the smallest if repeated); `no-store` / `no-cache` give zero.
    /// The key manager applies DESIGN.md §1.1's bounds; this is the raw value.
    pub max_age: Option<Duration>,
}

/// A successful fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body, at most `max_body_bytes`.
    pub body: Vec<u8>,
    /// The URL that answered, after redirects.
    pub final_url: String,
    /// The answer's media type (lower case, without parameters).
    pub content_type: String,
    /// `ETag`, `Last-Modified`, `max-age`.
    pub cache: CacheInfo,
    /// Time from the start of the fetch to the last body byte.
    pub duration: Duration,
}

/// A `304 Not Modified` answer to a conditional request: the caller's copy is current.
#[derive(Debug, Clone)]
pub struct NotModified {
    /// The URL that answered, after redirects.
    pub final_url: String,
    /// Caching information sent with the 304 (may refresh `max-age` or the validators).
    pub cache: CacheInfo,
    /// Time the fetch took.
    pub duration: Duration,
}

/// Outcome of [`Fetcher::get_json_if_modified`].
#[derive(Debug, Clone)]
pub enum Conditional {
    /// A new document.
    Modified(Fetched),
    /// The document has not changed.
    NotModified(NotModified),
}

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

/// A DNS resolver that applies the address rules to every answer before hyper may connect.
struct GuardedResolver {
    policy: Arc<FetchPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let answers: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|err| FetchError::Dns {
                    host: untrusted(&host),
                    message: err.to_string(),
                })?
                .collect();
            let vetted = policy.check_resolved(&host, answers).inspect_err(|err| {
                tracing::warn!(host = %untrusted(&host), error = %err, "DNS answer refused");
            })?;
            let addrs: Addrs = Box::new(vetted.into_iter());
            Ok(addrs)
        })
    }
}

/// Most TLS variants (distinct `verify_tls` + CA bundle combinations) whose clients are kept.
/// A variant evicted is rebuilt on its next use; the bound only keeps an org with many private
/// CAs from holding a connection pool per bundle forever.
pub const MAX_TLS_VARIANTS: usize = 32;
/// Most server names remembered for the once-per-server `verify_tls = false` warning.
const MAX_INSECURE_WARNED: usize = 1024;

/// The TLS settings of one authorization server (DESIGN.md §1.1 "JWKS Server Certificate
/// Validation" and the extra CA bundle), reduced to what identifies a client: the verify flag
/// and the SHA-256 of the bundle text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TlsKey {
    verify: bool,
    ca_bundle_sha256: Option<[u8; 32]>,
}

impl TlsKey {
    const DEFAULT: TlsKey = TlsKey {
        verify: true,
        ca_bundle_sha256: None,
    };
}

/// How a client checks server certificates.
struct TlsOptions {
    /// `false` = any certificate is accepted (`verify_tls: false`).
    verify: bool,
    /// Extra roots, on top of the built-in ones.
    extra_roots: Vec<reqwest::Certificate>,
}

/// What every fetcher derived from one [`Fetcher::new`] shares: the policy, the default client,
/// the TLS variant clients, and the names already warned about.
struct Shared {
    policy: Arc<FetchPolicy>,
    default_client: reqwest::Client,
    variants: quick_cache::sync::Cache<TlsKey, reqwest::Client>,
    insecure_warned: Mutex<HashSet<String>>,
}

/// Builds an HTTP client for `policy` with `tls`. **The only place a client is built**: every
/// rule but certificate checking (no environment proxy, timeouts, the redirect policy that
/// re-checks each target, the guarded DNS resolver, TLS 1.2 minimum) is set here identically for
/// the default client and for every TLS variant.
fn build_client(policy: &Arc<FetchPolicy>, tls: TlsOptions) -> Result<reqwest::Client, FetchError> {
    let redirect_policy = Arc::clone(policy);
    let redirects = redirect::Policy::custom(move |attempt| {
        let location = shown(attempt.url());
        // `previous` holds the first URL and every URL already redirected through.
        if attempt.previous().len() > redirect_policy.max_redirects {
            let max = redirect_policy.max_redirects;
            return attempt.error(FetchError::TooManyRedirects { max, location });
        }
        match redirect_policy.check_target(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(reason) => attempt.error(FetchError::RedirectRefused {
                location,
                reason: Box::new(reason),
            }),
        }
    });
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(policy.connect_timeout)
        .timeout(policy.total_timeout)
        .redirect(redirects)
        .referer(false)
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::clone(policy),
        }))
        .use_rustls_tls()
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .danger_accept_invalid_certs(!tls.verify);
    for root in tls.extra_roots {
        builder = builder.add_root_certificate(root);
    }
    builder
        .build()
        .map_err(|err| FetchError::ClientBuild(error_chain(&err)))
}

/// Fetches JSON documents from identity providers under a [`FetchPolicy`]. Holds an HTTP client
/// (connection pool); cheap to clone and to share behind an `Arc`.
///
/// [`Fetcher::new`] builds the default client (certificates checked against the built-in
/// roots). [`Fetcher::for_tls`] / [`Fetcher::for_server`] give a fetcher for one server's TLS
/// settings: same policy, same resolver and redirect checks, only certificate checking differs;
/// its client is cached (at most [`MAX_TLS_VARIANTS`]) and shared by every fetcher derived from
/// the same [`Fetcher::new`].
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .field("tls_variants", &self.shared.variants.len())
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Builds the default HTTP client for `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let policy = Arc::new(policy);
        let default_client = build_client(
            &policy,
            TlsOptions {
                verify: true,
                extra_roots: Vec::new(),
            },
        )?;
        let shared = Arc::new(Shared {
            policy: Arc::clone(&policy),
            default_client: default_client.clone(),
            variants: quick_cache::sync::Cache::new(MAX_TLS_VARIANTS),
            insecure_warned: Mutex::new(HashSet::new()),
        });
        Ok(Fetcher {
            client: default_client,
            policy,
            shared,
        })
    }

    /// A fetcher with the same policy whose client checks certificates as one server asks:
    /// `verify_tls = false` accepts any certificate; `ca_bundle_pem` adds its certificates to
    /// the built-in roots (rules: [`portcullis_policy::ca_bundle`]). Default settings give the
    /// default client; other clients are built once per (flag, bundle SHA-256) and cached.
    /// An unusable bundle is [`FetchError::CaBundle`] (nothing is fetched).
    pub fn for_tls(
        &self,
        verify_tls: bool,
        ca_bundle_pem: Option<&str>,
    ) -> Result<Fetcher, FetchError> {
        let ca_bundle_pem = ca_bundle_pem.map(str::trim).filter(|pem| !pem.is_empty());
        let key = TlsKey {
            verify: verify_tls,
            ca_bundle_sha256: ca_bundle_pem.map(|pem| portcullis_jose::sha256(pem.as_bytes())),
        };
        let client = if key == TlsKey::DEFAULT {
            self.shared.default_client.clone()
        } else {
            self.shared.variants.get_or_insert_with(&key, || {
                let extra_roots = match ca_bundle_pem {
                    None => Vec::new(),
                    Some(pem) => parse_ca_bundle(pem)
                        .map_err(|err| FetchError::CaBundle {
                            reason: err.to_string(),
                        })?
                        .into_iter()
                        .map(|der| reqwest::Certificate::from_der(der.as_ref()))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|err| FetchError::CaBundle {
                            reason: error_chain(&err),
                        })?,
                };
                tracing::debug!(
                    verify_tls,
                    extra_roots = extra_roots.len(),
                    "building an HTTP client for a server's TLS settings"
                );
                build_client(
                    &self.shared.policy,
                    TlsOptions {
                        verify: verify_tls,
                        extra_roots,
                    },
                )
                .map_err(|err| match (err, ca_bundle_pem) {
                    // Roots are added while building: a failure here with a bundle is the bundle.
                    (FetchError::ClientBuild(reason), Some(_)) => FetchError::CaBundle { reason },
                    (other, _) => other,
                })
            })?
        };
        Ok(Fetcher {
            client,
            policy: Arc::clone(&self.shared.policy),
            shared: Arc::clone(&self.shared),
        })
    }

    /// [`Fetcher::for_tls`] with `definition`'s settings. When certificate checking is off, a
    /// warning naming the server is logged the first time the server is fetched that way (and
    /// again if it is turned off after having been turned back on).
    pub fn for_server(&self, definition: &ServerDefinition) -> Result<Fetcher, FetchError> {
        let fetcher = self.for_tls(definition.verify_tls, definition.ca_bundle_pem.as_deref())?;
        let mut warned = self
            .shared
            .insecure_warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if definition.verify_tls {
            warned.remove(&definition.name);
        } else if !warned.contains(&definition.name) {
            if warned.len() >= MAX_INSECURE_WARNED {
                warned.clear();
            }
            warned.insert(definition.name.clone());
            tracing::warn!(
                server = %untrusted(&definition.name),
                "JWKS Server Certificate Validation is off for this authorization server: the certificate of its JWKS and metadata host is not checked, so anyone on the network path can supply its keys"
            );
        }
        Ok(fetcher)
    }

    /// How many TLS variant clients are cached now (shared by every fetcher derived from the
    /// same [`Fetcher::new`]); at most [`MAX_TLS_VARIANTS`].
    pub fn tls_variant_count(&self) -> usize {
        self.shared.variants.len()
    }

    /// The rules this fetcher enforces.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Fetches a JSON document. A `304` is an error here (nothing conditional was asked).
    pub async fn get_json(&self, url: &str, accept: Accept) -> Result<Fetched, FetchError> {
        match self.fetch(url, accept, &Validators::default()).await? {
            Conditional::Modified(fetched) => Ok(fetched),
            Conditional::NotModified(not_modified) => Err(FetchError::Status {
                url: not_modified.final_url,
                status: 304,
            }),
        }
    }

    /// Fetches a JSON document conditionally (`If-None-Match` / `If-Modified-Since` from
    /// `validators`); a `304` answer gives [`Conditional::NotModified`].
    pub async fn get_json_if_modified(
        &self,
        url: &str,
        accept: Accept,
        validators: &Validators,
    ) -> Result<Conditional, FetchError> {
        self.fetch(url, accept, validators).await
    }

    async fn fetch(
        &self,
        url: &str,
        accept: Accept,
        validators: &Validators,
    ) -> Result<Conditional, FetchError> {
        let target = self.policy.check_url(url)?;
        let started = Instant::now();
        let total = self.policy.total_timeout;
        // reqwest's own total timeout covers the body too; this outer bound also covers our DNS
        // resolution and is the one guarantee callers rely on.
        match tokio::time::timeout(
            total,
            self.fetch_checked(&target, accept, validators, started),
        )
        .await
        {
            Ok(result) => result,
            Err(_elapsed) => Err(FetchError::Timeout {
                url: shown(&target),
                after: total,
            }),
        }
        .inspect(|outcome| {
            if let Conditional::Modified(fetched) = outcome {
                tracing::debug!(url = %shown(&target), bytes = fetched.body.len(),
                    ms = fetched.duration.as_millis() as u64, "fetched");
            }
        })
        .inspect_err(|err| {
            tracing::info!(url = %shown(&target), code = err.code(), error = %err, "fetch failed");
        })
    }

    async fn fetch_checked(
        &self,
        target: &Url,
        accept: Accept,
        validators: &Validators,
        started: Instant,
    ) -> Result<Conditional, FetchError> {
        let mut request = self
            .client
            .get(target.clone())
            .header(header::ACCEPT, accept.header());
        if let Some(etag) = validators.etag.as_deref().and_then(header_value) {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = validators.last_modified.as_deref().and_then(header_value) {
            request = request.header(header::IF_MODIFIED_SINCE, date);
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| self.map_error(&err, target))?;
        let final_url = shown(response.url());
        let status = response.status();
        let cache = cache_info(response.headers());

        if status == reqwest::StatusCode::NOT_MODIFIED && !validators.is_empty() {
            return Ok(Conditional::NotModified(NotModified {
                final_url,
                cache,
                duration: started.elapsed(),
            }));
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: final_url,
                status: status.as_u16(),
            });
        }
        let content_type = media_type(response.headers());
        match content_type.as_deref() {
            Some(media) if accept.allows(media) => {}
            other => {
                return Err(FetchError::ContentType {
                    url: final_url,
                    found: other.map_or_else(|| "none".to_owned(), untrusted),
                    expected: accept.expected(),
                });
            }
        }

        let limit = self.policy.max_body_bytes;
        let too_large = || FetchError::BodyTooLarge {
            url: final_url.clone(),
            limit,
        };
        // A declared length only lets us refuse early; the count below is what is enforced.
        if declared_length(response.headers()).is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|err| {
            if err.is_timeout() {
                FetchError::Timeout {
                    url: final_url.clone(),
                    after: self.policy.total_timeout,
                }
            } else {
                FetchError::BodyRead {
                    url: final_url.clone(),
                    message: error_chain(&err),
                }
            }
        })? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Conditional::Modified(Fetched {
            body,
            final_url,
            content_type: content_type.unwrap_or_default(),
            cache,
            duration: started.elapsed(),
        }))
    }

    /// Maps a reqwest failure to our error, preferring a [`FetchError`] raised by our own
    /// resolver or redirect policy anywhere in the cause chain.
    fn map_error(&self, err: &reqwest::Error, target: &Url) -> FetchError {
        let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(current) = cause {
            if let Some(ours) = current.downcast_ref::<FetchError>() {
                return ours.clone();
            }
            cause = current.source();
        }
        let url = err.url().map_or_else(|| shown(target), shown);
        if let Some(tls) = tls_cause(err) {
            let message = untrusted(&tls.to_string());
            return match tls {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    FetchError::TlsCertificate { url, message }
                }
                _ => FetchError::TlsHandshake { url, message },
            };
        }
        if err.is_timeout() {
            if err.is_connect() {
                FetchError::ConnectTimeout {
                    url,
                    after: self.policy.connect_timeout,
                }
            } else {
                FetchError::Timeout {
                    url,
                    after: self.policy.total_timeout,
                }
            }
        } else if err.is_connect() {
            FetchError::Connect {
                url,
                message: error_chain(err),
            }
        } else if err.is_body() || err.is_decode() {
            FetchError::BodyRead {
                url,
                message: error_chain(err),
            }
        } else {
            FetchError::Transport {
                url,
                message: error_chain(err),
            }
        }
    }
}

/// The TLS error behind a failed request, if any. rustls errors travel inside `io::Error`s
/// (nested: hyper wraps tokio-rustls's), whose `source()` skips the wrapped error itself, so
/// each `io::Error` is opened explicitly.
fn tls_cause<'e>(err: &'e (dyn StdError + 'static)) -> Option<&'e rustls::Error> {
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
fn error_chain(err: &(dyn StdError + 'static)) -> String {
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

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_VALIDATOR_LEN)
        .map(str::to_owned)
}

fn cache_info(headers: &HeaderMap) -> CacheInfo {
    CacheInfo {
        etag: header_text(headers, header::ETAG),
        last_modified: header_text(headers, header::LAST_MODIFIED),
        max_age: max_age(headers),
    }
}

/// `Cache-Control: max-age=N` (smallest N if repeated); `no-store` / `no-cache` mean zero.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut result: Option<u64> = None;
    let mut keep = |seconds: u64| result = Some(result.map_or(seconds, |r| r.min(seconds)));
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim();
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                keep(0);
            } else if name.eq_ignore_ascii_case("max-age")
                && let Some(argument) = argument
            {
                let digits = argument.trim_matches('"');
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    // Too many digits to parse is "forever"; the key manager bounds it anyway.
                    keep(digits.parse().unwrap_or(u64::MAX));
                }
            }
        }
    }
    result.map(Duration::from_secs)
}

/// The media type of `Content-Type`, lower case, parameters removed.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next().unwrap_or("").trim();
    (!media.is_empty()).then(|| media.to_ascii_lowercase())
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn policy() -> FetchPolicy {
        FetchPolicy::default()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn insecure_servers_are_remembered_for_one_warning_each() {
        let fetcher = Fetcher::new(policy()).unwrap();
        let server = |name: &str, verify: bool| {
            serde_json::from_value::<portcullis_policy::ServerInput>(serde_json::json!({
                "name": name, "jwksUri": "https://idp.example.com/keys", "verifyTls": verify
            }))
            .unwrap()
            .resolve()
        };
        let warned = || {
            let mut names: Vec<String> = fetcher
                .shared
                .insecure_warned
                .lock()
                .unwrap()
                .iter()
                .cloned()
                .collect();
            names.sort();
            names
        };
        fetcher.for_server(&server("lab", false)).unwrap();
        fetcher.for_server(&server("lab", false)).unwrap();
        fetcher.for_server(&server("prod", true)).unwrap();
        assert_eq!(warned(), ["lab"]);
        // Turned back on, then off again: warned again.
        fetcher.for_server(&server("lab", true)).unwrap();
        assert!(warned().is_empty());
        fetcher.for_server(&server("lab", false)).unwrap();
        assert_eq!(warned(), ["lab"]);
        // Only the variant for verify=false was built; default settings use the default client.
        assert_eq!(fetcher.tls_variant_count(), 1);
    }

    #[test]
    fn address_exceptions() {
        let strict = policy();
        assert_eq!(strict.check_address(ip("8.8.8.8")), Ok(()));
        assert_eq!(
            strict.check_address(ip("127.0.0.1")),
            Err(ForbiddenRange::Loopback)
        );

        let insecure = FetchPolicy {
            allow_insecure: true,
            ..policy()
        };
        assert_eq!(insecure.check_address(ip("127.0.0.1")), Ok(()));
        assert_eq!(insecure.check_address(ip("::1")), Ok(()));
        assert_eq!(insecure.check_address(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(
            insecure.check_address(ip("10.0.0.1")),
            Err(ForbiddenRange::Private)
        );
        assert_eq!(
            insecure.check_address(ip("169.254.169.254")),
            Err(ForbiddenRange::CloudMetadata)
        );

        let on_prem = FetchPolicy {
            allowed_networks: vec![
                IpNet::from_str("10.20.0.0/16").unwrap(),
                IpNet::from_str("169.254.0.0/16").unwrap(),
                IpNet::from_str("fd12:3456::/32").unwrap(),
            ],
            ..policy()
        };
        assert_eq!(on_prem.check_address(ip("10.20.1.2")), Ok(()));
        assert_eq!(on_prem.check_address(ip("::ffff:10.20.1.2")), Ok(()));
        assert_eq!(on_prem.check_address(ip("fd12:3456::1")), Ok(()));
        assert_eq!(
            on_prem.check_address(ip("10.21.0.1")),
            Err(ForbiddenRange::Private)
        );
        assert_eq!(on_prem.check_address(ip("169.254.1.1")), Ok(()));
        // A broad range never opens the metadata service ...
        assert_eq!(
            on_prem.check_address(ip("169.254.169.254")),
            Err(ForbiddenRange::CloudMetadata)
        );
        // ... only an entry naming exactly that address does.
        let metadata = FetchPolicy {
            allowed_networks: vec![IpNet::from_str("169.254.169.254/32").unwrap()],
            ..policy()
        };
        assert_eq!(metadata.check_address(ip("169.254.169.254")), Ok(()));
        // Loopback can also be opened by a listed network without allow_insecure.
        let listed_loopback = FetchPolicy {
            allowed_networks: vec![IpNet::from_str("127.0.0.0/8").unwrap()],
            ..policy()
        };
        assert_eq!(listed_loopback.check_address(ip("127.0.0.1")), Ok(()));
    }

    #[test]
    fn dns_answers_with_any_forbidden_address_are_refused_whole() {
        let sock = |text: &str| SocketAddr::new(ip(text), 0);
        let p = policy();
        assert_eq!(
            p.check_resolved("idp.example.com", vec![sock("93.184.216.34")])
                .unwrap()
                .len(),
            1
        );
        let mixed = vec![sock("93.184.216.34"), sock("10.0.0.7")];
        match p.check_resolved("idp.example.com", mixed) {
            Err(FetchError::ForbiddenAddress { address, range, .. }) => {
                assert_eq!(address, ip("10.0.0.7"));
                assert_eq!(range, ForbiddenRange::Private);
            }
            other => panic!("{other:?}"),
        }
        let metadata_first = vec![sock("169.254.169.254"), sock("93.184.216.34")];
        assert!(matches!(
            p.check_resolved("idp.example.com", metadata_first),
            Err(FetchError::ForbiddenAddress {
                range: ForbiddenRange::CloudMetadata,
                ..
            })
        ));
        assert!(matches!(
            p.check_resolved("idp.example.com", vec![]),
            Err(FetchError::NoAddresses { .. })
        ));
    }

    #[test]
    fn url_rules() {
        let strict = policy();
        let insecure = FetchPolicy {
            allow_insecure: true,
            ..policy()
        };
        assert!(strict.check_url("https://idp.example.com/keys").is_ok());
        assert!(strict.check_url("https://8.8.8.8/keys").is_ok());
        let cases: &[(&FetchPolicy, &str, &str)] = &[
            (&strict, "http://127.0.0.1/keys", "insecure_scheme"),
            (&strict, "http://idp.example.com/keys", "insecure_scheme"),
            (
                &insecure,
                "http://idp.example.com/keys",
                "http_not_loopback",
            ),
            (&insecure, "http://10.0.0.1/keys", "http_not_loopback"),
            (&strict, "ftp://idp.example.com/keys", "unsupported_scheme"),
            (&strict, "file:///etc/passwd", "unsupported_scheme"),
            (
                &strict,
                "https://u:p@idp.example.com/",
                "credentials_in_url",
            ),
            (&strict, "https://u@idp.example.com/", "credentials_in_url"),
            (&strict, "https://127.0.0.1/", "forbidden_address"),
            (&strict, "https://0x7f.1/", "forbidden_address"),
            (&strict, "https://2130706433/", "forbidden_address"),
            (&strict, "https://[::1]/", "forbidden_address"),
            (&strict, "https://[::ffff:a9fe:a9fe]/", "forbidden_address"),
            (&strict, "https://10.1.2.3/", "forbidden_address"),
            (&insecure, "https://169.254.169.254/", "forbidden_address"),
            (&insecure, "https://[fd00:ec2::254]/", "forbidden_address"),
            (&strict, "not a url", "invalid_url"),
            (&strict, "/relative", "invalid_url"),
        ];
        for (policy, url, code) in cases {
            let err = policy.check_url(url).unwrap_err();
            assert_eq!(err.code(), *code, "{url}: {err}");
        }
        let long = format!("https://idp.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(strict.check_url(&long).unwrap_err().code(), "invalid_url");
        assert!(insecure.check_url("http://127.0.0.1:8080/keys").is_ok());
        assert!(insecure.check_url("http://localhost:8080/keys").is_ok());
        assert!(insecure.check_url("http://[::1]:8080/keys").is_ok());
    }

    #[test]
    fn credentials_never_appear_in_messages() {
        let err = policy()
            .check_url("https://admin:s3cret@idp.example.com/keys")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("admin"),
            "{text}"
        );
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                header::HeaderName::from_str(name).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn cache_control_max_age() {
        let secs = |pairs: &[(&str, &str)]| max_age(&headers(pairs)).map(|d| d.as_secs());
        assert_eq!(secs(&[]), None);
        assert_eq!(
            secs(&[("cache-control", "public, max-age=3600")]),
            Some(3600)
        );
        assert_eq!(secs(&[("cache-control", "MAX-AGE=\"120\"")]), Some(120));
        assert_eq!(
            secs(&[("cache-control", "max-age=600, s-maxage=60")]),
            Some(600)
        );
        assert_eq!(
            secs(&[
                ("cache-control", "max-age=600"),
                ("cache-control", "max-age=300")
            ]),
            Some(300)
        );
        assert_eq!(secs(&[("cache-control", "no-store")]), Some(0));
        assert_eq!(secs(&[("cache-control", "private, max-age=-5")]), None);
        assert_eq!(secs(&[("cache-control", "max-age=abc")]), None);
        assert_eq!(
            secs(&[("cache-control", "max-age=99999999999999999999999")]),
            Some(u64::MAX)
        );
    }

    #[test]
    fn media_types() {
        let media = |value: &str| media_type(&headers(&[("content-type", value)]));
        assert_eq!(
            media("application/json").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            media("Application/JSON; charset=UTF-8").as_deref(),
            Some("application/json")
        );
        assert_eq!(media(" ; charset=utf-8"), None);
        assert!(Accept::JwkSet.allows("application/jwk-set+json"));
        assert!(Accept::JwkSet.allows("application/json"));
        assert!(!Accept::Metadata.allows("application/jwk-set+json"));
        assert!(!Accept::JwkSet.allows("text/json"));
        assert!(!Accept::JwkSet.allows("application/json-seq"));
    }
}

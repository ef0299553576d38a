//! The key manager's edge to the outside world: fetching JWKS and authorization-server metadata
//! from identity providers safely, discovering `jwks_uri` and the issuer, and the Validate
//! report.
//!
//! - [`fetch`]: [`Fetcher`], the only outbound HTTP client. The URL is admin input, so every
//!   rule of DESIGN.md §3 is enforced with its own [`FetchError`]: https only (http to loopback
//!   under `allow_insecure_jwks`), no environment proxy, 5 s / 10 s timeouts, ≤ 3 redirects each
//!   re-checked, ≤ 1 MiB body counted while streaming, JSON content types, 2xx (304 for
//!   conditional requests), and no connection to loopback / private / link-local / CGNAT /
//!   multicast / reserved / cloud-metadata addresses — checked on every DNS answer (our own
//!   resolver) and on literal IP hosts, before any connection is attempted.
//! - [`address`]: the pure classification of forbidden IP ranges.
//! - [`discovery`]: RFC 8414 / OIDC discovery with the mix-up defence (the document's `issuer`
//!   must equal the issuer it was looked up for; Entra multi-tenant templates excepted).
//! - [`validate`]: [`load_keys`] (metadata then JWKS, a set without usable keys is a failure) and
//!   [`validate_source`], which reports usable and ignored keys as a serializable
//!   [`ValidationReport`].
//!
//! - [`manager`]: the [`manager::KeyManager`]: refresh schedule, single-flight, unknown-`kid`
//!   refetch, last-good keys in memory and in the store.
//!
//! Every fetch for a server goes through [`Fetcher::for_server`], so that server's `verify_tls`
//! and extra CA bundle apply to its metadata and JWKS. This crate knows nothing about tokens:
//! keys are handed to `portcullis-policy`. It never follows `jku` / `x5u` from tokens: it only
//! fetches URLs an admin configured.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod discovery;
pub mod fetch;
pub mod manager;
pub mod validate;

pub use address::ForbiddenRange;
pub use discovery::{
    Discovered, DiscoveryError, discover_from_issuer, discover_from_metadata_url,
    issuer_from_metadata_url, well_known_urls,
};
pub use fetch::{
    Accept, CacheInfo, Conditional, FetchError, FetchPolicy, Fetched, Fetcher, MAX_TLS_VARIANTS,
    NotModified, Validators,
};
pub use validate::{
    FetchedJwks, JwksError, JwksUpdate, KeySource, LoadError, LoadedKeys, ReportedError,
    ReportedIgnoredKey, ReportedKey, ValidationReport, check_server, fetch_jwks,
    fetch_jwks_if_modified, load_keys, validate_source, validate_source_with_issuer,
};

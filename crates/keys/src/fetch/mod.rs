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
//!
//! Where each part lives (each module uses only the ones listed before it):
//! - `error.rs`: [`FetchError`] and its codes; reading a failure's cause chain;
//! - `policy.rs`: [`FetchPolicy`], the default limits, the URL / address / DNS-answer checks;
//! - `resolver.rs`: the guarded DNS resolver;
//! - `clients.rs`: building a client, the TLS-variant client cache ([`MAX_TLS_VARIANTS`]);
//! - `headers.rs`: [`Accept`], [`Validators`], [`CacheInfo`], and cache / content headers;
//! - `fetcher.rs`: [`Fetcher`] and its outcomes ([`Fetched`], [`NotModified`], [`Conditional`]).

mod clients;
mod error;
mod fetcher;
mod headers;
mod policy;
mod resolver;

pub use clients::MAX_TLS_VARIANTS;
pub use error::FetchError;
pub use fetcher::{Conditional, Fetched, Fetcher, NotModified};
pub use headers::{Accept, CacheInfo, MAX_VALIDATOR_LEN, Validators};
pub use policy::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_REDIRECTS, DEFAULT_TOTAL_TIMEOUT,
    FetchPolicy, MAX_URL_LEN,
};

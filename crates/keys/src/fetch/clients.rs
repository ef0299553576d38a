//! The HTTP clients behind a [`Fetcher`](super::Fetcher): [`build_client`], **the only place
//! a client is built** (so the resolver, the redirect re-checks, the timeouts and TLS ≥ 1.2 are
//! the same for the default client and every TLS variant), the key of a TLS variant
//! ([`TlsKey`]: verify flag + SHA-256 of the CA bundle), and [`Shared`], the state every fetcher
//! derived from one `Fetcher::new` shares (the bounded variant cache, at most
//! [`MAX_TLS_VARIANTS`], and the names already warned about).
//!
//! Choosing a variant for a server and parsing its CA bundle is `Fetcher::for_tls` /
//! `Fetcher::for_server` (`fetcher.rs`); sending requests is not done here.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use reqwest::redirect;

use super::error::{FetchError, error_chain};
use super::policy::{FetchPolicy, shown};
use super::resolver::GuardedResolver;

/// Most TLS variants (distinct `verify_tls` + CA bundle combinations) whose clients are kept.
/// A variant evicted is rebuilt on its next use; the bound only keeps an org with many private
/// CAs from holding a connection pool per bundle forever.
pub const MAX_TLS_VARIANTS: usize = 32;
/// Most server names remembered for the once-per-server `verify_tls = false` warning.
pub(super) const MAX_INSECURE_WARNED: usize = 1024;

/// The TLS settings of one authorization server (DESIGN.md §1.1 "JWKS Server Certificate
/// Validation" and the extra CA bundle), reduced to what identifies a client: the verify flag
/// and the SHA-256 of the bundle text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TlsKey {
    pub(super) verify: bool,
    pub(super) ca_bundle_sha256: Option<[u8; 32]>,
}

impl TlsKey {
    pub(super) const DEFAULT: TlsKey = TlsKey {
        verify: true,
        ca_bundle_sha256: None,
    };
}

/// How a client checks server certificates.
pub(super) struct TlsOptions {
    /// `false` = any certificate is accepted (`verify_tls: false`).
    pub(super) verify: bool,
    /// Extra roots, on top of the built-in ones.
    pub(super) extra_roots: Vec<reqwest::Certificate>,
}

/// What every fetcher derived from one [`Fetcher::new`](super::Fetcher::new) shares: the
/// policy, the default client, the TLS variant clients, and the names already warned about.
pub(super) struct Shared {
    pub(super) policy: Arc<FetchPolicy>,
    pub(super) default_client: reqwest::Client,
    pub(super) variants: quick_cache::sync::Cache<TlsKey, reqwest::Client>,
    pub(super) insecure_warned: Mutex<HashSet<String>>,
}

/// Builds an HTTP client for `policy` with `tls`. **The only place a client is built**: every
/// rule but certificate checking (no environment proxy, timeouts, the redirect policy that
/// re-checks each target, the guarded DNS resolver, TLS 1.2 minimum) is set here identically for
/// the default client and for every TLS variant.
pub(super) fn build_client(
    policy: &Arc<FetchPolicy>,
    tls: TlsOptions,
) -> Result<reqwest::Client, FetchError> {
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

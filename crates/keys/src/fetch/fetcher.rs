//! [`Fetcher`], the one outbound HTTP client, and what a fetch gives back ([`Fetched`],
//! [`NotModified`], [`Conditional`]). A fetch checks the URL ([`FetchPolicy::check_url`]), sends
//! the request through the client chosen for the server's TLS settings, and enforces the answer
//! rules (status, content type, body size counted while streaming, total time); reqwest failures
//! are mapped to [`FetchError`] here.
//!
//! The rules themselves are in `policy.rs`, the DNS guard in `resolver.rs`, client building and
//! the variant cache in `clients.rs`, header parsing in `headers.rs`.

use std::collections::HashSet;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use portcullis_policy::ServerDefinition;
use portcullis_policy::ca_bundle::parse_ca_bundle;
use portcullis_policy::sanitize::untrusted;
use reqwest::header;
use url::Url;

use super::clients::{
    MAX_INSECURE_WARNED, MAX_TLS_VARIANTS, Shared, TlsKey, TlsOptions, build_client,
};
use super::error::{FetchError, error_chain, tls_cause};
use super::headers::{
    Accept, CacheInfo, Validators, cache_info, declared_length, header_value, media_type,
};
use super::policy::{FetchPolicy, shown};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> FetchPolicy {
        FetchPolicy::default()
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
}

//! [`GuardedResolver`]: the DNS resolver every client uses. It applies the address rules
//! ([`FetchPolicy::check_resolved`]) to each answer before hyper may connect, so a host name
//! that resolves to a forbidden address is refused whole. Literal IP hosts never reach it; they
//! are checked on the URL in `policy.rs`. It knows nothing of TLS or of the client cache.

use std::net::SocketAddr;
use std::sync::Arc;

use portcullis_policy::sanitize::untrusted;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::error::FetchError;
use super::policy::FetchPolicy;

/// A DNS resolver that applies the address rules to every answer before hyper may connect.
pub(super) struct GuardedResolver {
    pub(super) policy: Arc<FetchPolicy>,
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

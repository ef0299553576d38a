//! Who is calling the cloud service API, once authenticated: [`Principal`] (how, as whom, with
//! which permissions) and the client address. Kept apart from [`crate::auth`] (which finds the
//! principal) and [`crate::bearer`] (which maps tokens to API roles), which both build one.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use portcullis_http::Challenge;
use portcullis_http::challenge::REALM;
use portcullis_policy::permissions::{Category, Permissions};
use portcullis_runtime::deployment::TrustedProxies;
use portcullis_store::{Actor, Interface};

use crate::error::ApiError;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// Admin session cookie.
    Session,
    /// OAuth 2.0 bearer token mapped to API roles.
    Bearer,
    /// Legacy Cloud Service API Key session (`JSESSIONID`), with its admin's role.
    ApiKeySession,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// How the caller authenticated.
    pub kind: CredentialKind,
    /// Audit actor name (admin login).
    pub name: String,
    /// Effective permissions.
    pub permissions: Permissions,
    /// Client address.
    pub client_ip: Option<String>,
    /// The admin id, for session-based callers.
    pub admin_id: Option<String>,
    /// The session id hash, for session-based callers (portal or legacy, by `kind`).
    pub session_hash: Option<String>,
    /// The interface recorded in the audit log (`API`, or `Admin UI` for the portal's calls).
    pub interface: Interface,
    /// Who is counted by the rate limits: `session:<admin id>` (portal), `apikey:<admin id>`
    /// (legacy API-key session) or `client:<server id>:<client id or subject>` (bearer token).
    pub caller: String,
}

impl Principal {
    /// Fails with 403 unless the caller may read (or, with `write`, change) `category`.
    pub fn require(&self, category: Category, write: bool) -> Result<(), ApiError> {
        if self.permissions.allows(category, write) {
            return Ok(());
        }
        let what = if write { "change" } else { "view" };
        let message = format!("your role does not allow you to {what} {}", category.name());
        match self.kind {
            CredentialKind::Session | CredentialKind::ApiKeySession => {
                Err(ApiError::forbidden(message))
            }
            CredentialKind::Bearer => {
                // RFC 6750 §3.1: a valid token without the needed privileges.
                let needed = if write { "full" } else { "view_only" };
                Err(Challenge::insufficient_scope(REALM, message)
                    .description(format!(
                        "the token's API roles need {needed} access to {}",
                        category.name()
                    ))
                    .into())
            }
        }
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            client_ip: self.client_ip.clone(),
            interface: self.interface,
        }
    }
}

/// The outcome of authenticating in the governance layer (rate limits), kept in the request's
/// extensions so the handler's [`Principal`] extractor (`auth.rs`) answers the same without
/// authenticating twice.
#[derive(Clone)]
pub struct Authenticated(pub Result<Principal, ApiError>);

/// The client's address for the audit log: what a trusted proxy vouches for, else the socket
/// peer (the same reading the rate limits and forward auth use, `runtime::deployment`).
pub fn client_ip(parts: &Parts, trusted: &TrustedProxies) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| peer_client_ip(&parts.headers, ci.0, trusted))
}

/// [`client_ip`] for handlers that hold the peer and headers themselves.
pub fn peer_client_ip(
    headers: &axum::http::HeaderMap,
    peer: SocketAddr,
    trusted: &TrustedProxies,
) -> String {
    portcullis_runtime::deployment::client_ip(headers, peer, trusted).to_string()
}

//! OAuth 2.0 bearer tokens on the cloud service API (DESIGN.md §1.2, §2; RFC 6750): the token is
//! validated by the runtime (`portcullis_runtime::validate`: snapshot, verified-token cache,
//! unknown-`kid` refetch), its `<cloud>::<org>::<role>` scopes are mapped to API roles, and the
//! union of their permissions authorizes the request.

use std::sync::atomic::Ordering;

use axum::http::request::Parts;
use portcullis_http::Challenge;
use portcullis_http::challenge::REALM;
use portcullis_runtime::validate::{bearer_token, validate};

use crate::error::ApiError;
use crate::principal::{CredentialKind, Principal, client_ip};
use crate::state::ControlState;

/// Extracts the token from `Authorization: Bearer <token>`; anything else there is malformed,
/// and a token also sent as `access_token` in the query is a token in two places.
pub fn extract_token(parts: &Parts) -> Result<String, ApiError> {
    token_from_headers(&parts.headers, parts.uri.query())
}

/// [`extract_token`] over headers and a query string (`portcullis_runtime`'s reading, as a 400
/// `invalid_request` challenge).
pub fn token_from_headers(
    headers: &axum::http::HeaderMap,
    query: Option<&str>,
) -> Result<String, ApiError> {
    bearer_token(headers, query)
        .map(str::to_owned)
        .map_err(|malformed| Challenge::invalid_request(REALM, malformed.0).into())
}

/// Authenticates a bearer-token caller.
pub async fn authenticate(parts: &Parts, state: &ControlState) -> Result<Principal, ApiError> {
    let token = extract_token(parts)?;
    let runtime = &state.runtime;
    let verified = match validate(runtime, &token).await {
        Ok(verified) => verified,
        Err(rejected) => {
            runtime.counters.reject(rejected.rejection.code());
            tracing::info!(reason = rejected.rejection.code(), detail = %rejected, "bearer token rejected");
            let description = rejected.rejection.client_description();
            return Err(Challenge::invalid_token(REALM, description).into());
        }
    };
    let cloud = &state.settings.cloud_name;
    let Some(grant) = runtime
        .snapshot
        .load()
        .grant(&verified.scopes, cloud, state.org)
    else {
        runtime.counters.reject("no_api_role");
        let example = format!("{cloud}::{}::<role>", state.org);
        return Err(Challenge::insufficient_scope(
            REALM,
            format!(
                "the token's scopes name no API role of this organization (expected {example})"
            ),
        )
        .scope(example)
        .into());
    };
    runtime
        .counters
        .tokens_accepted
        .fetch_add(1, Ordering::Relaxed);
    Ok(Principal {
        kind: CredentialKind::Bearer,
        name: format!("oauth-{}$@{}.{cloud}", grant.roles.join(","), state.org),
        permissions: grant.permissions,
        client_ip: client_ip(parts, &state.settings.trusted_proxies),
        // Keyed by the issuing server too: two IdPs may hand out the same client id, and one
        // partner's automation must not spend another's budget.
        caller: format!(
            "client:{}:{}",
            verified.server_id,
            verified
                .client_id
                .as_deref()
                .or(verified.subject.as_deref())
                .unwrap_or("unknown")
        ),
        admin_id: None,
        session_hash: None,
        interface: portcullis_store::Interface::Api,
    })
}

//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for this deployment: which authorization
//! servers a client may get tokens from, and which scopes a resource understands. Pure: built
//! from the configuration snapshot on request, so it follows every configuration change on
//! every node.
//!
//! Two kinds of resources:
//! - the **cloud service API** (the deployment's base URL; document at
//!   `/.well-known/oauth-protected-resource`): every enabled server, and the API-role scopes
//!   `<cloud>::<orgId>::<role>`;
//! - each **route with an upstream** (`<base><path>`; document at
//!   `/.well-known/oauth-protected-resource<path>`, RFC 9728 §3.1): the route's servers (all
//!   enabled ones when it names none) and the scopes its policy asks for.
//!
//! Issuers written as templates (Entra `{tenantid}`) and servers without an issuer are left out:
//! the document lists only issuer identifiers a client can use as they are.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::routes::CompiledRoute;
use crate::snapshot::Snapshot;

/// The well-known path (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The document's URL for the resource at `path` below `base` (`None`: the cloud service API).
pub fn metadata_url(base: &str, path: Option<&str>) -> String {
    format!(
        "{}{WELL_KNOWN}{}",
        base.trim_end_matches('/'),
        path.unwrap_or("")
    )
}

fn issuers<'a>(snapshot: &'a Snapshot, names: &[String]) -> Vec<&'a str> {
    snapshot
        .servers
        .iter()
        .map(|(_, definition)| definition)
        .filter(|d| d.enabled && (names.is_empty() || names.contains(&d.name)))
        .filter_map(|d| d.issuer.as_deref())
        .filter(|issuer| !issuer.contains('{'))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The cloud service API's document.
pub fn api_document(snapshot: &Snapshot, base: &str, cloud: &str, org: i64) -> Value {
    let scopes: BTreeSet<String> = snapshot
        .api_roles
        .keys()
        .map(|role| format!("{cloud}::{org}::{role}"))
        .collect();
    json!({
        "resource": base.trim_end_matches('/'),
        "authorization_servers": issuers(snapshot, &[]),
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": format!("Portcullis cloud service API ({cloud})"),
    })
}

/// The path a route's document lives under: its exact path or prefix, for routes with an
/// upstream (the resources Portcullis serves itself).
pub fn route_resource_path(route: &CompiledRoute) -> Option<&str> {
    route.definition.upstream.as_ref()?;
    let matcher = &route.definition.matcher;
    matcher
        .exact_path
        .as_deref()
        .or(matcher.path_prefix.as_deref())
        .map(|path| path.trim_end_matches('/'))
        .filter(|path| !path.is_empty())
}

/// The document of the route whose resource path is `path`, if there is one.
pub fn route_document(snapshot: &Snapshot, base: &str, path: &str) -> Option<Value> {
    let route = snapshot
        .routes
        .iter()
        .find(|route| route_resource_path(route) == Some(path))?;
    let policy = &route.definition.policy;
    let scopes: BTreeSet<&String> = policy
        .scopes
        .all_of
        .iter()
        .chain(&policy.scopes.any_of)
        .collect();
    Some(json!({
        "resource": format!("{}{path}", base.trim_end_matches('/')),
        "authorization_servers": issuers(snapshot, &policy.servers),
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": route.definition.name,
    }))
}

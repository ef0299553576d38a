//! The sandbox evaluation (DESIGN.md §1.4): what the live pipeline would decide for a token, and
//! why, step by step — for client developers debugging their tokens without admin rights.
//!
//! It runs the same code the hot path runs: [`crate::Validator::validate_traced`] with an
//! [`EvaluationTrace`], then either the route lookup and [`CompiledRoute::authorize`] (the
//! forward-auth decision, when a method and path are given) or [`Snapshot::grant`] (the cloud
//! service API's API-role mapping). Being pure, it has no side effects by construction: it never
//! fetches keys (an unknown `kid` is reported with a note instead of the live refetch), never
//! writes the verified-token cache, never counts metrics and never audits.

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::permissions::Permissions;
use crate::rejection::{Rejected, Rejection};
use crate::routes::{CompiledRoute, CredentialType};
use crate::snapshot::Snapshot;
use crate::target::{Host, RequestTarget};
use crate::trace::{EvaluationTrace, Outcome, Step, TraceEntry, TraceSink};
use crate::validator::VerifiedToken;

/// The request a route decision is asked for, in the canonical forms the live pipeline decides
/// on (the caller canonicalises, so a refused target never gets here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequest {
    /// HTTP method (upper case).
    pub method: String,
    /// The canonical host, when the routes match on it.
    pub host: Option<Host>,
    /// The canonical target (its query is never matched).
    pub target: RequestTarget,
}

/// Serialised as `{method, host, path}`: `path` is the canonical path and query, the host its
/// canonical text.
impl Serialize for RouteRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RouteRequest", 3)?;
        s.serialize_field("method", &self.method)?;
        s.serialize_field("host", &self.host)?;
        s.serialize_field("path", &self.target)?;
        s.end()
    }
}

/// Whether the request would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The live pipeline would let it through.
    Allow,
    /// The live pipeline would refuse it.
    Deny,
}

/// A server or route named in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedRef {
    /// Stable id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// What a verified token established.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSummary {
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// The client id, from the first present configured claim.
    pub client_id: Option<String>,
    /// Scopes read from the server's scope claims.
    pub scopes: Vec<String>,
    /// `exp` (seconds since the epoch).
    pub expires_at: f64,
    /// The verifying algorithm.
    pub alg: String,
    /// The verifying key's `kid`.
    pub kid: Option<String>,
}

/// The authorization part of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum AuthorizationReport {
    /// The cloud service API (no method and path given): API roles from the token's scopes.
    ApiRoles {
        /// The scope form that names a role here: `<cloud>::<orgId>::<role>`.
        expected_scope: String,
        /// Roles the scopes grant (empty when none or when the token was rejected).
        roles: Vec<String>,
        /// The union of their permissions.
        permissions: Option<Permissions>,
    },
    /// Forward auth for `request`.
    Route {
        /// The request asked about.
        request: RouteRequest,
        /// The most specific matching route (none = deny).
        route: Option<NamedRef>,
        /// The credential types the route accepts.
        credentials: Vec<CredentialType>,
        /// The identity headers that would go upstream on allow.
        identity_headers: BTreeMap<String, String>,
    },
}

/// The full answer of `POST /sandbox/v1/evaluate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxReport {
    /// Allow or deny.
    pub verdict: Verdict,
    /// The HTTP status the live pipeline would answer (200, 401 or 403).
    pub status: u16,
    /// On deny: the rejection code (a [`Rejection::code`], or `no_route`,
    /// `credential_not_accepted`, `insufficient_scope`, `no_api_role`).
    pub code: Option<&'static str>,
    /// On deny: the full reason (what logs and metrics get; never sent to live clients).
    pub reason: Option<String>,
    /// On a token rejection: the short `error_description` a live client receives.
    pub client_description: Option<&'static str>,
    /// Vendor advice, when the token's shape suggests one.
    pub hint: Option<&'static str>,
    /// The decoded JOSE header (unverified), when it could be decoded.
    pub header: Option<Map<String, Value>>,
    /// The decoded payload (unverified), when it could be decoded.
    pub payload: Option<Map<String, Value>>,
    /// The server that verified the token, or the one that got furthest before rejecting it.
    pub server: Option<NamedRef>,
    /// What the verified token established (accepted tokens only).
    pub token: Option<TokenSummary>,
    /// Every check, in order, with pass/fail/skip and detail; the last is `authorization`.
    pub steps: Vec<TraceEntry>,
    /// The API-role or route result.
    pub authorization: AuthorizationReport,
    /// Where the live pipeline could differ from this evaluation, and other advice.
    pub notes: Vec<String>,
}

/// Evaluates `token` at `now` (seconds since the epoch) against `snapshot`, as the cloud service
/// API of `cloud`/`org_id` would (no `request`) or as forward auth would for `request`.
pub fn evaluate(
    snapshot: &Snapshot,
    token: &str,
    now: f64,
    cloud: &str,
    org_id: i64,
    request: Option<RouteRequest>,
) -> SandboxReport {
    let mut trace = EvaluationTrace::default();
    let result = snapshot.validator.validate_traced(token, now, &mut trace);
    let mut report = SandboxReport {
        verdict: Verdict::Deny,
        status: 401,
        code: None,
        reason: None,
        client_description: None,
        hint: None,
        header: trace.header.take(),
        payload: trace.payload.take(),
        server: None,
        token: None,
        steps: Vec::new(),
        authorization: AuthorizationReport::ApiRoles {
            expected_scope: format!("{cloud}::{org_id}::<role>"),
            roles: Vec::new(),
            permissions: None,
        },
        notes: Vec::new(),
    };
    match &result {
        Ok(verified) => {
            report.server = Some(NamedRef {
                id: verified.server_id.to_string(),
                name: verified.server_name.to_string(),
            });
            report.token = Some(summary(verified));
        }
        Err(rejected) => {
            report.server = rejected.server.as_deref().map(|name| NamedRef {
                id: snapshot.server_id(name).unwrap_or_default().to_owned(),
                name: name.to_owned(),
            });
            if let Rejection::UnknownKid { .. } = rejected.rejection {
                report.notes.push(
                    "the live pipeline would first refetch this server's JWKS once (rate-limited) and retry; the sandbox never fetches keys, so if the IdP rotated its keys in the last minutes the live answer may differ"
                        .to_owned(),
                );
            }
        }
    }
    match request {
        None => api_roles(&mut report, &mut trace, &result, snapshot, cloud, org_id),
        Some(request) => route(&mut report, &mut trace, &result, snapshot, request),
    }
    report.steps = trace.steps;
    report
}

fn summary(verified: &VerifiedToken) -> TokenSummary {
    TokenSummary {
        issuer: verified.issuer.clone(),
        subject: verified.subject.clone(),
        client_id: verified.client_id.clone(),
        scopes: verified.scopes.clone(),
        expires_at: verified.expires_at,
        alg: verified.alg.to_string(),
        kid: verified.kid.clone(),
    }
}

/// Records a rejected token as the deny reason (401 `invalid_token` live).
fn token_rejected(report: &mut SandboxReport, rejected: &Rejected) {
    report.verdict = Verdict::Deny;
    report.status = 401;
    report.code = Some(rejected.rejection.code());
    report.reason = Some(rejected.to_string());
    report.client_description = Some(rejected.rejection.client_description());
    report.hint = rejected.hint.map(|h| h.text());
}

fn deny(report: &mut SandboxReport, status: u16, code: &'static str, reason: String) {
    report.verdict = Verdict::Deny;
    report.status = status;
    report.code = Some(code);
    report.reason = Some(reason);
}

fn allow(report: &mut SandboxReport) {
    report.verdict = Verdict::Allow;
    report.status = 200;
}

fn api_roles(
    report: &mut SandboxReport,
    trace: &mut EvaluationTrace,
    result: &Result<VerifiedToken, Rejected>,
    snapshot: &Snapshot,
    cloud: &str,
    org_id: i64,
) {
    let expected_scope = format!("{cloud}::{org_id}::<role>");
    let verified = match result {
        Ok(verified) => verified,
        Err(rejected) => {
            token_rejected(report, rejected);
            trace.step(Step::Authorization, Outcome::Skip, || {
                "not reached: the token was rejected".to_owned()
            });
            return;
        }
    };
    match snapshot.grant(&verified.scopes, cloud, org_id) {
        Some(grant) => {
            let roles = grant.roles.join(", ");
            trace.step(Step::Authorization, Outcome::Pass, || {
                format!("scopes grant the API role(s) {roles}")
            });
            allow(report);
            report.authorization = AuthorizationReport::ApiRoles {
                expected_scope,
                roles: grant.roles,
                permissions: Some(grant.permissions),
            };
        }
        None => {
            let reason = format!(
                "no scope names an existing API role of this organization (expected {expected_scope})"
            );
            trace.step(Step::Authorization, Outcome::Fail, || reason.clone());
            deny(report, 403, "no_api_role", reason);
            report.authorization = AuthorizationReport::ApiRoles {
                expected_scope,
                roles: Vec::new(),
                permissions: None,
            };
        }
    }
}

fn route(
    report: &mut SandboxReport,
    trace: &mut EvaluationTrace,
    result: &Result<VerifiedToken, Rejected>,
    snapshot: &Snapshot,
    request: RouteRequest,
) {
    let found: Option<&CompiledRoute> =
        snapshot
            .routes
            .route(&request.method, request.host.as_ref(), &request.target);
    let mut identity_headers = BTreeMap::new();
    match found {
        None => {
            let reason = format!(
                "no route matches {} {}: no match is a deny",
                request.method,
                request.target.path()
            );
            trace.step(Step::Authorization, Outcome::Fail, || reason.clone());
            // Forward auth answers 403 `no_route` before it looks at any credential.
            deny(report, 403, "no_route", reason);
        }
        Some(route) => {
            let policy = &route.definition.policy;
            let name = &route.definition.name;
            if policy.credentials.contains(&CredentialType::None) {
                trace.step(Step::Authorization, Outcome::Pass, || {
                    format!("route {name} is public: no credentials are checked")
                });
                allow(report);
                report.notes.push(
                    "the route is public: the live pipeline does not look at the token at all"
                        .to_owned(),
                );
            } else if !policy.credentials.contains(&CredentialType::Oauth) {
                let reason =
                    format!("route {name} does not accept OAuth tokens (credentials: api_key)");
                trace.step(Step::Authorization, Outcome::Fail, || reason.clone());
                deny(report, 401, "credential_not_accepted", reason);
            } else {
                match result {
                    Err(rejected) => {
                        token_rejected(report, rejected);
                        trace.step(Step::Authorization, Outcome::Skip, || {
                            "not reached: the token was rejected".to_owned()
                        });
                    }
                    Ok(verified) => {
                        let claims = verified.claims();
                        match route.authorize(&verified.server_name, &verified.scopes, claims) {
                            Ok(()) => {
                                trace.step(Step::Authorization, Outcome::Pass, || {
                                    format!(
                                        "route {name}: servers, scopes and claim rules satisfied"
                                    )
                                });
                                allow(report);
                                identity_headers = policy
                                    .identity_headers(verified)
                                    .into_iter()
                                    .map(|(header, value)| (header.to_owned(), value))
                                    .collect();
                            }
                            Err(denial) => {
                                let reason = format!("route {name}: {denial}");
                                trace.step(Step::Authorization, Outcome::Fail, || reason.clone());
                                // Forward auth answers every policy denial (server, scopes,
                                // claim rules) with 403 `insufficient_scope`.
                                deny(report, 403, "insufficient_scope", reason);
                            }
                        }
                    }
                }
            }
        }
    }
    report.authorization = AuthorizationReport::Route {
        request,
        route: found.map(|r| NamedRef {
            id: r.id.clone(),
            name: r.definition.name.clone(),
        }),
        credentials: found
            .map(|r| r.definition.policy.credentials.clone())
            .unwrap_or_default(),
        identity_headers,
    };
}

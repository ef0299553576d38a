//! `/api/v1/auditLogs` (JSON) and `/api/v1/auditLogs.csv`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use portcullis_policy::permissions::Category;
use portcullis_store::{AuditFilter, AuditRecord};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::state::ControlState;
use crate::time::{parse_time, rfc3339};

const FILTERS: [&str; 9] = [
    "from",
    "to",
    "action",
    "category",
    "interface",
    "result",
    "actor",
    "resource",
    "limit",
];

/// The query parameters of both audit endpoints, for the OpenAPI document (parsing is
/// [`filter`]'s, over the same names: a unit test keeps the two lists equal).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the OpenAPI derive only
pub struct AuditQuery {
    /// Entries at or after this time: RFC 3339 or Unix milliseconds.
    from: Option<String>,
    /// Entries at or before this time: RFC 3339 or Unix milliseconds.
    to: Option<String>,
    /// Exact action (`create`, `update`, `delete`, `sign_in`, ...); empty = any.
    action: Option<String>,
    /// Exact category (`authorizationServers`, `admins`, ...); empty = any.
    category: Option<String>,
    /// Exact interface (`API`, `Admin UI`, `Config`, `System`); empty = any.
    interface: Option<String>,
    /// `success` or `failure`; empty = any.
    result: Option<String>,
    /// Exact actor; empty = any.
    actor: Option<String>,
    /// Exact resource; empty = any.
    resource: Option<String>,
    /// Most entries returned, newest first.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogEntry {
    /// Sequence number.
    id: i64,
    /// When (RFC 3339, UTC).
    at: String,
    /// What was done (`create`, `update`, `delete`, `sign_in`, ...).
    action: String,
    /// Permission category of the resource.
    category: String,
    /// The resource's name or id.
    resource: String,
    /// Who: an admin login, `oauth-<roles>$@<org>.<cloud>`, `config` or `system`.
    actor: String,
    /// The client's address, when the change came over the network.
    client_ip: Option<String>,
    /// `API`, `Admin UI`, `Config` or `System`.
    interface: String,
    /// `success` or `failure`.
    result: String,
    /// The configuration before the change (secrets redacted).
    #[schema(value_type = Option<Object>)]
    before: Option<Value>,
    /// The configuration after the change (secrets redacted).
    #[schema(value_type = Option<Object>)]
    after: Option<Value>,
    /// Free text, e.g. why it failed.
    detail: Option<String>,
}

/// The answer of `GET /api/v1/auditLogs`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditLogList {
    /// Entries, newest first.
    items: Vec<AuditLogEntry>,
}

/// Parses the audit filters (shared with the portal's audit page).
pub fn filter(query: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    if let Some(unknown) = query.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            unknown,
            format!("unknown filter; use {}", FILTERS.join(", ")),
        ));
    }
    // The database would refuse it (PostgreSQL text holds no NUL) with an error, not "no match".
    if let Some((name, _)) = query.iter().find(|(_, v)| v.contains('\0')) {
        return Err(ApiError::invalid_field(
            name,
            "NUL characters are not allowed",
        ));
    }
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        query
            .get(name)
            .map(|v| {
                parse_time(v).ok_or_else(|| {
                    ApiError::invalid_field(name, "must be RFC 3339 or Unix milliseconds")
                })
            })
            .transpose()
    };
    let text = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    let limit = query
        .get("limit")
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| ApiError::invalid_field("limit", "1 to 10000"))
        })
        .transpose()?;
    Ok(AuditFilter {
        from: time("from")?,
        to: time("to")?,
        action: text("action"),
        category: text("category"),
        interface: text("interface"),
        result: text("result"),
        actor: text("actor"),
        resource: text("resource"),
        limit,
    })
}

fn entry(e: AuditRecord) -> AuditLogEntry {
    AuditLogEntry {
        id: e.id,
        at: rfc3339(e.at),
        action: e.action,
        category: e.category,
        resource: e.resource,
        actor: e.actor,
        client_ip: e.client_ip,
        interface: e.interface,
        result: e.result,
        before: e.before,
        after: e.after,
        detail: e.detail,
    }
}

/// `GET /api/v1/auditLogs`.
#[utoipa::path(
    get,
    path = "/api/v1/auditLogs",
    tag = "auditLogs",
    operation_id = "listAuditLogs",
    params(AuditQuery),
    responses(
        (status = 200, description = "The matching entries, newest first.", body = AuditLogList),
        (status = 422, description = "An unknown filter, or a filter value that is invalid (`fields` names it).", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ControlState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuditLogs, false)?;
    let entries = state.store.query_audit(state.org, &filter(&query)?).await?;
    Ok(Json(AuditLogList {
        items: entries.into_iter().map(entry).collect(),
    }))
}

/// `GET /api/v1/auditLogs.csv`.
#[utoipa::path(
    get,
    path = "/api/v1/auditLogs.csv",
    tag = "auditLogs",
    operation_id = "exportAuditLogsCsv",
    params(AuditQuery),
    responses(
        (status = 200, description = "The matching entries as CSV (RFC 4180; cells that a spreadsheet would read as a formula are prefixed with `'`).", content_type = "text/csv", body = String,
            headers(("content-disposition" = String, description = "`attachment; filename=\"audit-log.csv\"`"))),
        (status = 422, description = "An unknown filter, or a filter value that is invalid (`fields` names it).", body = ErrorBody),
    )
)]
pub async fn csv(
    State(state): State<ControlState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuditLogs, false)?;
    let entries = state.store.query_audit(state.org, &filter(&query)?).await?;
    let mut out = String::from(
        "time,action,category,resource,actor,client_ip,interface,result,detail,before,after\r\n",
    );
    for e in entries {
        let fields = [
            rfc3339(e.at),
            e.action,
            e.category,
            e.resource,
            e.actor,
            e.client_ip.unwrap_or_default(),
            e.interface,
            e.result,
            e.detail.unwrap_or_default(),
            e.before.map(|v| v.to_string()).unwrap_or_default(),
            e.after.map(|v| v.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-log.csv\"",
            ),
        ],
        out,
    ))
}

/// RFC 4180 quoting, plus neutralising spreadsheet formulas (CSV injection): a field starting
/// with `=`, `+`, `-`, `@` is prefixed with `'`.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoParams;

    #[test]
    fn documented_filters_are_the_parsed_ones() {
        let documented: Vec<String> = AuditQuery::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(documented, FILTERS);
    }
}

//! `/api/v1/auditLogs` (JSON) and `/api/v1/auditLogs.csv`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use portcullis_policy::permissions::Category;
use portcullis_store::{AuditFilter, AuditRecord};
use serde_json::json;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
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

/// Parses the audit filters (shared with the portal's audit page).
pub fn filter(query: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    if let Some(unknown) = query.keys().find(|k| !FILTERS.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            unknown,
            format!("unknown filter; use {}", FILTERS.join(", ")),
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

fn entry_json(e: AuditRecord) -> serde_json::Value {
    json!({"id": e.id, "at": rfc3339(e.at), "action": e.action, "category": e.category, "resource": e.resource,
           "actor": e.actor, "clientIp": e.client_ip, "interface": e.interface, "result": e.result,
           "before": e.before, "after": e.after, "detail": e.detail})
}

/// `GET /api/v1/auditLogs`.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Category::AuditLogs, false)?;
    let entries = state.store.query_audit(state.org, &filter(&query)?).await?;
    Ok(Json(
        json!({ "items": entries.into_iter().map(entry_json).collect::<Vec<_>>() }),
    ))
}

/// `GET /api/v1/auditLogs.csv`.
pub async fn csv(
    State(state): State<AppState>,
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

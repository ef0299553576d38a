//! The audit log (DESIGN.md §1.5): append inside the changing transaction, query with filters.

use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Actor, Store, StoreError, from_json, now_ms};

/// Through which interface a change was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Interface {
    /// The admin portal.
    #[serde(rename = "Admin UI")]
    AdminUi,
    /// The cloud service API.
    #[serde(rename = "API")]
    Api,
    /// The declarative configuration file.
    #[serde(rename = "Config")]
    Config,
    /// Portcullis itself (bootstrap, retention).
    #[serde(rename = "System")]
    System,
}

impl Interface {
    /// The stored and displayed name.
    pub fn name(self) -> &'static str {
        match self {
            Interface::AdminUi => "Admin UI",
            Interface::Api => "API",
            Interface::Config => "Config",
            Interface::System => "System",
        }
    }
}

/// Whether the audited action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    /// It happened.
    Success,
    /// It was refused or failed.
    Failure,
}

impl AuditResult {
    fn name(self) -> &'static str {
        match self {
            AuditResult::Success => "success",
            AuditResult::Failure => "failure",
        }
    }
}

/// What to record (the actor and time are added by the store).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// `create`, `update`, `delete`, `enable`, `disable`, `regenerate`, `sign_in`, `sign_out`, ...
    pub action: String,
    /// Permission category name (`authorizationServers`, `admins`, ...).
    pub category: String,
    /// The resource's name or id.
    pub resource: String,
    /// Outcome.
    pub result: AuditResult,
    /// Configuration before the change (secrets already redacted).
    pub before: Option<Value>,
    /// Configuration after the change (secrets already redacted).
    pub after: Option<Value>,
    /// Free text (e.g. why it failed).
    pub detail: Option<String>,
}

impl AuditEntry {
    /// A successful `action` on `resource` of `category`, with the configuration before and
    /// after it (secrets already redacted) and no detail.
    pub fn success(
        action: &str,
        category: &str,
        resource: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        Self {
            action: action.to_owned(),
            category: category.to_owned(),
            resource: resource.to_owned(),
            result: AuditResult::Success,
            before,
            after,
            detail: None,
        }
    }

    /// The same entry with `detail`.
    pub fn with_detail(self, detail: Option<String>) -> Self {
        Self { detail, ..self }
    }
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Sequence number.
    pub id: i64,
    /// When, in Unix milliseconds.
    pub at: i64,
    /// Action.
    pub action: String,
    /// Category.
    pub category: String,
    /// Resource.
    pub resource: String,
    /// Actor.
    pub actor: String,
    /// Client IP.
    pub client_ip: Option<String>,
    /// Interface name.
    pub interface: String,
    /// `success` or `failure`.
    pub result: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
    /// Detail.
    pub detail: Option<String>,
}

/// Filters for [`Store::query_audit`]; every field optional (exact matches, time range inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// From (ms).
    pub from: Option<i64>,
    /// To (ms).
    pub to: Option<i64>,
    /// Action.
    pub action: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Interface name.
    pub interface: Option<String>,
    /// `success` / `failure`.
    pub result: Option<String>,
    /// Actor.
    pub actor: Option<String>,
    /// Resource.
    pub resource: Option<String>,
    /// Most entries returned (newest first).
    pub limit: Option<i64>,
}

pub(crate) async fn append_in(
    tx: &mut Transaction<'_, Any>,
    org: i64,
    actor: &Actor,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    let json = |v: &Option<Value>| v.as_ref().map(Value::to_string);
    sqlx::query(
        "INSERT INTO audit_log (org_id, at, action, category, resource, actor, client_ip, interface, result, before_json, after_json, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(org)
    .bind(now_ms())
    .bind(&entry.action)
    .bind(&entry.category)
    .bind(&entry.resource)
    .bind(&actor.name)
    .bind(actor.client_ip.clone())
    .bind(actor.interface.name())
    .bind(entry.result.name())
    .bind(json(&entry.before))
    .bind(json(&entry.after))
    .bind(entry.detail.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn record(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let json = |col: &str| -> Result<Option<Value>, StoreError> {
        row.try_get::<Option<String>, _>(col)?
            .map(|t| from_json(&t))
            .transpose()
    };
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        action: row.try_get("action")?,
        category: row.try_get("category")?,
        resource: row.try_get("resource")?,
        actor: row.try_get("actor")?,
        client_ip: row.try_get("client_ip")?,
        interface: row.try_get("interface")?,
        result: row.try_get("result")?,
        before: json("before_json")?,
        after: json("after_json")?,
        detail: row.try_get("detail")?,
    })
}

impl Store {
    /// Records an entry on its own (failed sign-ins, refused requests).
    pub async fn append_audit(
        &self,
        org: i64,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        append_in(&mut tx, org, actor, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Entries of `org` matching `filter`, newest first.
    pub async fn query_audit(
        &self,
        org: i64,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // Placeholders are numbered in the order they appear, as the portability rules require.
        let mut sql = String::from(
            "SELECT id, at, action, category, resource, actor, client_ip, interface, result, before_json, after_json, detail \
             FROM audit_log WHERE org_id = $1",
        );
        let mut text_args: Vec<String> = Vec::new();
        let mut int_args: Vec<i64> = Vec::new();
        let mut n = 1;
        if let Some(from) = filter.from {
            n += 1;
            sql.push_str(&format!(" AND at >= ${n}"));
            int_args.push(from);
        }
        if let Some(to) = filter.to {
            n += 1;
            sql.push_str(&format!(" AND at <= ${n}"));
            int_args.push(to);
        }
        for (column, value) in [
            ("action", &filter.action),
            ("category", &filter.category),
            ("interface", &filter.interface),
            ("result", &filter.result),
            ("actor", &filter.actor),
            ("resource", &filter.resource),
        ] {
            if let Some(value) = value {
                n += 1;
                sql.push_str(&format!(" AND {column} = ${n}"));
                text_args.push(value.clone());
            }
        }
        let limit = filter.limit.unwrap_or(1000).clamp(1, 10_000);
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let mut query = sqlx::query(&sql).bind(org);
        for v in int_args {
            query = query.bind(v);
        }
        for v in text_args {
            query = query.bind(v);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(record).collect()
    }

    /// Deletes entries older than `before_ms` (retention). Returns how many.
    pub async fn purge_audit_before(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

//! Routes: upstream API policies (DESIGN.md §1.3).

use portcullis_policy::routes::RouteDefinition;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditEntry, AuditResult, append_in};
use crate::{Actor, Conflict, Store, StoreError, from_json, map_unique, new_id, now_ms, to_json};

/// A stored route.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(as = Route))]
pub struct RouteRecord {
    /// Stable id.
    pub id: String,
    /// The definition.
    #[serde(flatten)]
    pub definition: RouteDefinition,
    /// Version.
    pub version: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, definition, version, created_at, updated_at";

fn record(row: &AnyRow) -> Result<RouteRecord, StoreError> {
    let definition: String = row.try_get("definition")?;
    Ok(RouteRecord {
        id: row.try_get("id")?,
        definition: from_json(&definition)?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn entry(
    action: &str,
    name: &str,
    before: Option<&RouteDefinition>,
    after: Option<&RouteDefinition>,
) -> AuditEntry {
    AuditEntry {
        action: action.into(),
        category: "routes".into(),
        resource: name.to_owned(),
        result: AuditResult::Success,
        before: before.and_then(|d| serde_json::to_value(d).ok()),
        after: after.and_then(|d| serde_json::to_value(d).ok()),
        detail: None,
    }
}

impl Store {
    /// Routes of the org, by name.
    pub async fn list_routes(&self, org: i64) -> Result<Vec<RouteRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE org_id = $1 ORDER BY name"
        ))
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// One route.
    pub async fn get_route(&self, org: i64, id: &str) -> Result<RouteRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        record(&row)
    }

    /// Creates a route with its audit entry.
    pub async fn create_route(
        &self,
        org: i64,
        definition: &RouteDefinition,
        actor: &Actor,
    ) -> Result<RouteRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO routes (id, org_id, name, definition, version, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $6)",
        )
        .bind(&id)
        .bind(org)
        .bind(&definition.name)
        .bind(to_json(definition)?)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", &definition.name))?;
        append_in(
            &mut tx,
            org,
            actor,
            &entry("create", &definition.name, None, Some(definition)),
        )
        .await?;
        tx.commit().await?;
        self.get_route(org, &id).await
    }

    /// Replaces a route (compare-and-swap on `expected_version` when given).
    pub async fn update_route(
        &self,
        org: i64,
        id: &str,
        expected_version: Option<i64>,
        definition: &RouteDefinition,
        actor: &Actor,
    ) -> Result<RouteRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = record(&row)?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version,
            }));
        }
        let done = sqlx::query(
            "UPDATE routes SET name = $1, definition = $2, version = version + 1, updated_at = $3 \
             WHERE org_id = $4 AND id = $5 AND version = $6",
        )
        .bind(&definition.name)
        .bind(to_json(definition)?)
        .bind(now_ms())
        .bind(org)
        .bind(id)
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", &definition.name))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version + 1,
            }));
        }
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "update",
                &definition.name,
                Some(&current.definition),
                Some(definition),
            ),
        )
        .await?;
        tx.commit().await?;
        self.get_route(org, id).await
    }

    /// Deletes a route.
    pub async fn delete_route(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<RouteRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM routes WHERE org_id = $1 AND id = $2"
        ))
        .bind(org)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = record(&row)?;
        sqlx::query("DELETE FROM routes WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_in(
            &mut tx,
            org,
            actor,
            &entry(
                "delete",
                &current.definition.name,
                Some(&current.definition),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(current)
    }
}

//! Routes: upstream API policies (DESIGN.md §1.3).

use portcullis_policy::routes::RouteDefinition;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::AuditEntry;
use crate::repository::{Arg, Change, Key, Stored};
use crate::{Actor, Store, StoreError, from_json, new_id, now_ms, to_json};

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

/// The audit category of routes.
pub(crate) const CATEGORY: &str = "routes";

fn view(definition: &RouteDefinition) -> Option<serde_json::Value> {
    serde_json::to_value(definition).ok()
}

impl Stored for RouteRecord {
    const TABLE: &'static str = "routes";
    const COLUMNS: &'static str = COLUMNS;
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let definition: String = row.try_get("definition")?;
        Ok(Self {
            id: row.try_get("id")?,
            definition: from_json(&definition)?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

impl Store {
    /// Routes of the org, by name.
    pub async fn list_routes(&self, org: i64) -> Result<Vec<RouteRecord>, StoreError> {
        self.list_rows(&Key::org(org), "name").await
    }

    /// One route.
    pub async fn get_route(&self, org: i64, id: &str) -> Result<RouteRecord, StoreError> {
        self.get_row(&Key::id(org, id)).await
    }

    /// Creates a route with its audit entry.
    pub async fn create_route(
        &self,
        org: i64,
        definition: &RouteDefinition,
        actor: &Actor,
    ) -> Result<RouteRecord, StoreError> {
        let mut change = self.change(org).await?;
        let id = new_id();
        let entry = create_route_in(&mut change, &id, definition).await?;
        change.commit_read(actor, &entry, &Key::id(org, &id)).await
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
        let mut change = self.change(org).await?;
        let entry = update_route_in(&mut change, id, expected_version, definition).await?;
        change.commit_read(actor, &entry, &Key::id(org, id)).await
    }

    /// Deletes a route.
    pub async fn delete_route(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<RouteRecord, StoreError> {
        let mut change = self.change(org).await?;
        let (current, entry) = delete_route_in(&mut change, id, None).await?;
        change.commit(actor, &entry).await?;
        Ok(current)
    }
}

/// Inserts route `id` inside `change`; the audit entry to commit with it.
pub(crate) async fn create_route_in(
    change: &mut Change,
    id: &str,
    definition: &RouteDefinition,
) -> Result<AuditEntry, StoreError> {
    let now = now_ms();
    let values = [
        ("id", Arg::Str(id)),
        ("name", Arg::Str(&definition.name)),
        ("definition", Arg::Owned(to_json(definition)?)),
        ("created_at", Arg::Int(now)),
        ("updated_at", Arg::Int(now)),
    ];
    change
        .insert::<RouteRecord>(&values, Some(("name", &definition.name)))
        .await?;
    Ok(AuditEntry::success(
        "create",
        CATEGORY,
        &definition.name,
        None,
        view(definition),
    ))
}

/// Replaces route `id` inside `change` (compare-and-swap on `expected_version` when given).
pub(crate) async fn update_route_in(
    change: &mut Change,
    id: &str,
    expected_version: Option<i64>,
    definition: &RouteDefinition,
) -> Result<AuditEntry, StoreError> {
    let key = Key::id(change.org(), id);
    let current: RouteRecord = change.current(&key, expected_version).await?;
    let values = [
        ("name", Arg::Str(&definition.name)),
        ("definition", Arg::Owned(to_json(definition)?)),
        ("updated_at", Arg::Int(now_ms())),
    ];
    change
        .swap(&key, &current, &values, Some(("name", &definition.name)))
        .await?;
    let (before, after) = (view(&current.definition), view(definition));
    Ok(AuditEntry::success(
        "update",
        CATEGORY,
        &definition.name,
        before,
        after,
    ))
}

/// Deletes route `id` inside `change` (if still at `expected_version`, when given).
pub(crate) async fn delete_route_in(
    change: &mut Change,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(RouteRecord, AuditEntry), StoreError> {
    let key = Key::id(change.org(), id);
    let current: RouteRecord = change.current(&key, expected_version).await?;
    change.delete::<RouteRecord>(&key).await?;
    let name = &current.definition.name;
    let entry = AuditEntry::success("delete", CATEGORY, name, view(&current.definition), None);
    Ok((current, entry))
}

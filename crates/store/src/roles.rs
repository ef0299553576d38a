//! API roles (authorize the cloud service API for OAuth tokens) and admin roles (authorize
//! admins); both are named permission sets, stored in one table by kind.

use portcullis_policy::permissions::{Permissions, RoleInput};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::{AuditEntry, AuditResult, append_in};
use crate::{Actor, Conflict, Store, StoreError, from_json, map_unique, new_id, now_ms, to_json};

/// Name of the built-in admin role with every permission.
pub const SUPER_ADMIN_ROLE: &str = "Super Admin";

/// Which kind of role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// API role (DESIGN.md §1.2).
    Api,
    /// Admin role (DESIGN.md §1.5).
    Admin,
}

impl RoleKind {
    fn name(self) -> &'static str {
        match self {
            RoleKind::Api => "api",
            RoleKind::Admin => "admin",
        }
    }
    fn category(self) -> &'static str {
        match self {
            RoleKind::Api => "apiRoles",
            RoleKind::Admin => "admins",
        }
    }
}

/// A stored role.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(as = Role))]
pub struct RoleRecord {
    /// Stable id.
    pub id: String,
    /// Name, unique per org and kind.
    pub name: String,
    /// Access per category.
    pub permissions: Permissions,
    /// Built in (cannot be changed or deleted).
    pub builtin: bool,
    /// Version.
    pub version: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

fn record(row: &AnyRow) -> Result<RoleRecord, StoreError> {
    let permissions: String = row.try_get("permissions")?;
    Ok(RoleRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        permissions: from_json(&permissions)?,
        builtin: row.try_get::<i64, _>("builtin")? != 0,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, name, permissions, builtin, version, created_at, updated_at";

pub(crate) async fn insert_super_admin(
    tx: &mut Transaction<'_, Any>,
    org: i64,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO roles (id, org_id, kind, name, permissions, builtin, version, created_at, updated_at) \
         VALUES ($1, $2, 'admin', $3, $4, 1, 1, $5, $6)",
    )
    .bind(format!("super-admin-{org}"))
    .bind(org)
    .bind(SUPER_ADMIN_ROLE)
    .bind(to_json(&Permissions::FULL)?)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Roles of one kind in the org, by name.
    pub async fn list_roles(
        &self,
        org: i64,
        kind: RoleKind,
    ) -> Result<Vec<RoleRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM roles WHERE org_id = $1 AND kind = $2 ORDER BY name"
        ))
        .bind(org)
        .bind(kind.name())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// One role.
    pub async fn get_role(
        &self,
        org: i64,
        kind: RoleKind,
        id: &str,
    ) -> Result<RoleRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM roles WHERE org_id = $1 AND kind = $2 AND id = $3"
        ))
        .bind(org)
        .bind(kind.name())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        record(&row)
    }

    /// Creates a role (at most `max_roles` of this kind per org).
    pub async fn create_role(
        &self,
        org: i64,
        kind: RoleKind,
        input: &RoleInput,
        max_roles: i64,
        actor: &Actor,
    ) -> Result<RoleRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        crate::lock_org(&mut tx, org).await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM roles WHERE org_id = $1 AND kind = $2 AND builtin = 0",
        )
        .bind(org)
        .bind(kind.name())
        .fetch_one(&mut *tx)
        .await?;
        if count >= max_roles {
            return Err(StoreError::LimitExceeded(format!(
                "this organization may have at most {max_roles} roles of this kind"
            )));
        }
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO roles (id, org_id, kind, name, permissions, builtin, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 1, $6, $7)",
        )
        .bind(&id)
        .bind(org)
        .bind(kind.name())
        .bind(&input.name)
        .bind(to_json(&input.permissions)?)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", &input.name))?;
        let entry = AuditEntry {
            action: "create".into(),
            category: kind.category().into(),
            resource: input.name.clone(),
            result: AuditResult::Success,
            before: None,
            after: serde_json::to_value(input).ok(),
            detail: None,
        };
        append_in(&mut tx, org, actor, &entry).await?;
        tx.commit().await?;
        self.get_role(org, kind, &id).await
    }

    /// Replaces a role's name and permissions (built-in roles cannot change).
    pub async fn update_role(
        &self,
        org: i64,
        kind: RoleKind,
        id: &str,
        expected_version: Option<i64>,
        input: &RoleInput,
        actor: &Actor,
    ) -> Result<RoleRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM roles WHERE org_id = $1 AND kind = $2 AND id = $3"
        ))
        .bind(org)
        .bind(kind.name())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = record(&row)?;
        if current.builtin {
            return Err(StoreError::Conflict(Conflict::InUse(
                "built-in roles cannot be changed".into(),
            )));
        }
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version,
            }));
        }
        let updated = sqlx::query(
            "UPDATE roles SET name = $1, permissions = $2, version = version + 1, updated_at = $3 \
             WHERE org_id = $4 AND id = $5 AND version = $6",
        )
        .bind(&input.name)
        .bind(to_json(&input.permissions)?)
        .bind(now_ms())
        .bind(org)
        .bind(id)
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "name", &input.name))?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version + 1,
            }));
        }
        let before = RoleInput {
            name: current.name.clone(),
            permissions: current.permissions,
        };
        let entry = AuditEntry {
            action: "update".into(),
            category: kind.category().into(),
            resource: input.name.clone(),
            result: AuditResult::Success,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(input).ok(),
            detail: None,
        };
        append_in(&mut tx, org, actor, &entry).await?;
        tx.commit().await?;
        self.get_role(org, kind, id).await
    }

    /// Deletes a role; built-in roles and admin roles still assigned to admins are refused.
    pub async fn delete_role(
        &self,
        org: i64,
        kind: RoleKind,
        id: &str,
        actor: &Actor,
    ) -> Result<RoleRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM roles WHERE org_id = $1 AND kind = $2 AND id = $3"
        ))
        .bind(org)
        .bind(kind.name())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let current = record(&row)?;
        if current.builtin {
            return Err(StoreError::Conflict(Conflict::InUse(
                "built-in roles cannot be deleted".into(),
            )));
        }
        if kind == RoleKind::Admin {
            let (users,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM admins WHERE org_id = $1 AND role_id = $2")
                    .bind(org)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
            if users > 0 {
                return Err(StoreError::Conflict(Conflict::InUse(format!(
                    "the role is assigned to {users} admin(s)"
                ))));
            }
        }
        sqlx::query("DELETE FROM roles WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let before = RoleInput {
            name: current.name.clone(),
            permissions: current.permissions,
        };
        let entry = AuditEntry {
            action: "delete".into(),
            category: kind.category().into(),
            resource: current.name.clone(),
            result: AuditResult::Success,
            before: serde_json::to_value(&before).ok(),
            after: None,
            detail: None,
        };
        append_in(&mut tx, org, actor, &entry).await?;
        tx.commit().await?;
        Ok(current)
    }
}

//! API roles (authorize the cloud service API for OAuth tokens) and admin roles (authorize
//! admins); both are named permission sets, stored in one table by kind.

use portcullis_policy::permissions::{Permissions, RoleInput};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::AuditEntry;
use crate::limits::{self, LimitedChange};
use crate::repository::{Arg, Change, Key, Stored, check_version};
use crate::{Actor, Conflict, RoleKind, Store, StoreError, from_json, new_id, now_ms, to_json};

/// Name of the built-in admin role with every permission.
pub const SUPER_ADMIN_ROLE: &str = "Super Admin";

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

impl Stored for RoleRecord {
    const TABLE: &'static str = "roles";
    const COLUMNS: &'static str = COLUMNS;
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let permissions: String = row.try_get("permissions")?;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            permissions: from_json(&permissions)?,
            builtin: row.try_get::<i64, _>("builtin")? != 0,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
    fn version(&self) -> i64 {
        self.version
    }
}

/// The roles of `kind` in `org`.
fn key(org: i64, kind: RoleKind) -> Key<'static> {
    Key::org(org).and("kind", kind.name())
}

/// The audit view of a role.
fn view(name: &str, permissions: Permissions) -> Option<serde_json::Value> {
    let input = RoleInput {
        name: name.to_owned(),
        permissions,
    };
    serde_json::to_value(&input).ok()
}

/// Refuses changing or deleting a built-in role.
fn not_builtin(role: &RoleRecord, what: &str) -> Result<(), StoreError> {
    if role.builtin {
        return Err(StoreError::Conflict(Conflict::InUse(format!(
            "built-in roles cannot be {what}"
        ))));
    }
    Ok(())
}

impl Store {
    /// Roles of one kind in the org, by name.
    pub async fn list_roles(
        &self,
        org: i64,
        kind: RoleKind,
    ) -> Result<Vec<RoleRecord>, StoreError> {
        self.list_rows(&key(org, kind), "name").await
    }

    /// One role.
    pub async fn get_role(
        &self,
        org: i64,
        kind: RoleKind,
        id: &str,
    ) -> Result<RoleRecord, StoreError> {
        self.get_row(&key(org, kind).and("id", id)).await
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
        let mut change = self.change(org).await?;
        let id = new_id();
        let entry = create_role_in(&mut change, kind, &id, input, max_roles).await?;
        change
            .commit_read(actor, &entry, &key(org, kind).and("id", &id))
            .await
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
        let mut change = self.change(org).await?;
        let entry = update_role_in(&mut change, kind, id, expected_version, input).await?;
        change
            .commit_read(actor, &entry, &key(org, kind).and("id", id))
            .await
    }

    /// Deletes a role; built-in roles and admin roles still assigned to admins are refused.
    pub async fn delete_role(
        &self,
        org: i64,
        kind: RoleKind,
        id: &str,
        actor: &Actor,
    ) -> Result<RoleRecord, StoreError> {
        let mut change = self.change(org).await?;
        let (current, entry) = delete_role_in(&mut change, kind, id, None).await?;
        change.commit(actor, &entry).await?;
        Ok(current)
    }
}

/// Inserts role `id` of `kind` inside `change` (at most `max_roles` of the kind).
pub(crate) async fn create_role_in(
    change: &mut Change,
    kind: RoleKind,
    id: &str,
    input: &RoleInput,
    max_roles: i64,
) -> Result<AuditEntry, StoreError> {
    limits::enforce(
        change,
        LimitedChange::CreateRole {
            kind,
            max: max_roles,
        },
    )
    .await?;
    let now = now_ms();
    let values = [
        ("id", Arg::Str(id)),
        ("kind", Arg::Str(kind.name())),
        ("name", Arg::Str(&input.name)),
        ("permissions", Arg::Owned(to_json(&input.permissions)?)),
        ("builtin", Arg::Bool(false)),
        ("created_at", Arg::Int(now)),
        ("updated_at", Arg::Int(now)),
    ];
    change
        .insert::<RoleRecord>(&values, Some(("name", &input.name)))
        .await?;
    let after = view(&input.name, input.permissions);
    Ok(AuditEntry::success(
        "create",
        kind.category(),
        &input.name,
        None,
        after,
    ))
}

/// Replaces role `id` of `kind` inside `change` (built-in roles cannot change).
pub(crate) async fn update_role_in(
    change: &mut Change,
    kind: RoleKind,
    id: &str,
    expected_version: Option<i64>,
    input: &RoleInput,
) -> Result<AuditEntry, StoreError> {
    let key = key(change.org(), kind).and("id", id);
    let current: RoleRecord = change.current(&key, None).await?;
    not_builtin(&current, "changed")?;
    check_version(&current, expected_version)?;
    let values = [
        ("name", Arg::Str(&input.name)),
        ("permissions", Arg::Owned(to_json(&input.permissions)?)),
        ("updated_at", Arg::Int(now_ms())),
    ];
    change
        .swap(&key, &current, &values, Some(("name", &input.name)))
        .await?;
    let before = view(&current.name, current.permissions);
    let after = view(&input.name, input.permissions);
    Ok(AuditEntry::success(
        "update",
        kind.category(),
        &input.name,
        before,
        after,
    ))
}

/// Deletes role `id` of `kind` inside `change` (if still at `expected_version`, when given);
/// built-in roles and admin roles still assigned to admins are refused.
pub(crate) async fn delete_role_in(
    change: &mut Change,
    kind: RoleKind,
    id: &str,
    expected_version: Option<i64>,
) -> Result<(RoleRecord, AuditEntry), StoreError> {
    let org = change.org();
    let key = key(org, kind).and("id", id);
    let current: RoleRecord = change.current(&key, None).await?;
    not_builtin(&current, "deleted")?;
    check_version(&current, expected_version)?;
    if kind == RoleKind::Admin {
        let (users,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM admins WHERE org_id = $1 AND role_id = $2")
                .bind(org)
                .bind(id)
                .fetch_one(&mut **change.tx())
                .await?;
        if users > 0 {
            return Err(StoreError::Conflict(Conflict::InUse(format!(
                "the role is assigned to {users} admin(s)"
            ))));
        }
    }
    change.delete::<RoleRecord>(&key).await?;
    let before = view(&current.name, current.permissions);
    let entry = AuditEntry::success("delete", kind.category(), &current.name, before, None);
    Ok((current, entry))
}

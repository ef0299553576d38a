//! Staged configuration: with the org's `activation` set to `staged`, writes to servers, routes
//! and roles become *pending changes* here, and [`Store::activate`] applies them all in one
//! transaction (one configuration version for every node).
//!
//! Invariants, besides the crate's:
//! - at most one pending change per object (`kind`, `target_id`), and only its author may change
//!   or withdraw it: a second admin's edit of the same object is a [`Conflict::Pending`] (409),
//!   so nobody's staged work is silently overwritten;
//! - a pending change records the active version it was staged against; activation refuses the
//!   whole batch when any object moved on meanwhile (nothing is applied over a change the author
//!   never saw);
//! - activation applies through the same `*_in` functions as immediate writes (limits, unique
//!   names, built-in roles, version checks), so a staged change can never do what an immediate
//!   one could not; each object gets its own audit entry, then one `activate` entry lists them;
//! - pending changes are not configuration: no trigger bumps the configuration version when they
//!   change, and nothing on the data plane reads them.

use portcullis_policy::ServerDefinition;
use portcullis_policy::governance::Activation as ActivationMode;
use portcullis_policy::permissions::RoleInput;
use portcullis_policy::routes::RouteDefinition;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::AuditEntry;
use crate::org_settings::OrgSettingsRecord;
use crate::repository::{Arg, Change, Key, Stored};
use crate::servers::FetchOutcome;
use crate::{
    Actor, Conflict, RoleKind, Store, StoreError, from_json, new_id, now_ms, roles, routes,
    servers, to_json,
};

/// The audit category of activations.
pub const ACTIVATION_CATEGORY: &str = "configuration";

/// What kind of object a pending change is about.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PendingKind {
    /// `/api/v1/authorizationServers`.
    AuthorizationServers,
    /// `/api/v1/routes`.
    Routes,
    /// `/api/v1/apiRoles`.
    ApiRoles,
    /// `/api/v1/adminRoles`.
    AdminRoles,
}

impl PendingKind {
    /// Every kind, in the order activation reports them.
    pub const ALL: [PendingKind; 4] = [
        PendingKind::AuthorizationServers,
        PendingKind::Routes,
        PendingKind::ApiRoles,
        PendingKind::AdminRoles,
    ];

    /// The stored (and API) name.
    pub fn name(self) -> &'static str {
        match self {
            PendingKind::AuthorizationServers => "authorizationServers",
            PendingKind::Routes => "routes",
            PendingKind::ApiRoles => "apiRoles",
            PendingKind::AdminRoles => "adminRoles",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown pending change kind `{name}`")))
    }

    /// The role kind, for the two role kinds.
    pub fn role_kind(self) -> Option<RoleKind> {
        match self {
            PendingKind::ApiRoles => Some(RoleKind::Api),
            PendingKind::AdminRoles => Some(RoleKind::Admin),
            _ => None,
        }
    }

    /// The audit category of the objects (the permission category's name).
    pub fn category(self) -> &'static str {
        match self {
            PendingKind::AuthorizationServers => servers::CATEGORY,
            PendingKind::Routes => routes::CATEGORY,
            PendingKind::ApiRoles => RoleKind::Api.category(),
            PendingKind::AdminRoles => RoleKind::Admin.category(),
        }
    }
}

/// What a pending change does to its object.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PendingAction {
    /// The object does not exist yet.
    Create,
    /// The object's definition is replaced.
    Replace,
    /// The object goes.
    Delete,
}

impl PendingAction {
    fn name(self) -> &'static str {
        match self {
            PendingAction::Create => "create",
            PendingAction::Replace => "replace",
            PendingAction::Delete => "delete",
        }
    }

    fn parse(name: &str) -> Result<Self, StoreError> {
        match name {
            "create" => Ok(PendingAction::Create),
            "replace" => Ok(PendingAction::Replace),
            "delete" => Ok(PendingAction::Delete),
            other => Err(StoreError::Corrupt(format!(
                "unknown pending change action `{other}`"
            ))),
        }
    }

    /// The audit action of staging it.
    fn stage_action(self) -> &'static str {
        match self {
            PendingAction::Create => "stage_create",
            PendingAction::Replace => "stage_update",
            PendingAction::Delete => "stage_delete",
        }
    }
}

/// One pending change, with the active object it changes (`before`) and what it will be
/// (`after`), both as the API shows them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingChange {
    /// The pending change's id.
    pub id: String,
    /// What kind of object.
    pub kind: PendingKind,
    /// The object's id (for a create: the id it will have once activated).
    pub target_id: String,
    /// What the change does.
    pub action: PendingAction,
    /// The object's name after the change (before it, for a delete).
    pub name: String,
    /// The active object now (`null` for a create).
    pub before: Option<Value>,
    /// The object once activated (`null` for a delete).
    pub after: Option<Value>,
    /// The active version it was staged against (`null` for a create).
    pub base_version: Option<i64>,
    /// Who staged it (their login).
    pub staged_by: String,
    /// When it was last staged (ms).
    pub staged_at: i64,
    /// Incremented each time its author changes it.
    pub version: i64,
    /// Servers: the key check made when staging, recorded on activation.
    #[serde(skip)]
    fetch: Option<String>,
    /// The stored body (the definition applied on activation, exactly as staged).
    #[serde(skip)]
    body: Option<String>,
}

/// How many changes are pending, by kind.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCounts {
    /// Every pending change.
    pub total: i64,
    /// Of authorization servers.
    pub authorization_servers: i64,
    /// Of routes.
    pub routes: i64,
    /// Of API roles.
    pub api_roles: i64,
    /// Of admin roles.
    pub admin_roles: i64,
}

/// An object as a staged write defines it.
#[derive(Debug, Clone)]
pub enum StagedObject {
    /// An authorization server, with the key check made before staging.
    Server {
        /// The resolved definition.
        definition: ServerDefinition,
        /// The key check's outcome (recorded as the server's fetch status on activation).
        fetch: Option<FetchOutcome>,
    },
    /// A route.
    Route(RouteDefinition),
    /// A role of one kind.
    Role {
        /// API or admin role.
        kind: RoleKind,
        /// Name and permissions.
        input: RoleInput,
    },
}

impl StagedObject {
    fn kind(&self) -> PendingKind {
        match self {
            StagedObject::Server { .. } => PendingKind::AuthorizationServers,
            StagedObject::Route(_) => PendingKind::Routes,
            StagedObject::Role {
                kind: RoleKind::Api,
                ..
            } => PendingKind::ApiRoles,
            StagedObject::Role {
                kind: RoleKind::Admin,
                ..
            } => PendingKind::AdminRoles,
        }
    }

    fn name(&self) -> &str {
        match self {
            StagedObject::Server { definition, .. } => &definition.name,
            StagedObject::Route(definition) => &definition.name,
            StagedObject::Role { input, .. } => &input.name,
        }
    }

    fn body(&self) -> Result<String, StoreError> {
        match self {
            StagedObject::Server { definition, .. } => to_json(definition),
            StagedObject::Route(definition) => to_json(definition),
            StagedObject::Role { input, .. } => to_json(input),
        }
    }

    fn fetch(&self, at: i64) -> Result<Option<String>, StoreError> {
        match self {
            StagedObject::Server {
                fetch: Some(outcome),
                ..
            } => Ok(Some(fetch_to_json(outcome, at)?)),
            _ => Ok(None),
        }
    }
}

/// A write made while the org's activation is `staged`.
#[derive(Debug, Clone)]
pub enum StagedWrite {
    /// A new object.
    Create(StagedObject),
    /// A new definition of object `id` (at `expected_version`, when given).
    Replace {
        /// The object's id (an active one, or one the same author's pending change creates).
        id: String,
        /// The active version the caller read, when it sent one.
        expected_version: Option<i64>,
        /// The new definition.
        object: StagedObject,
    },
    /// Object `id` goes.
    Delete {
        /// What kind of object.
        kind: PendingKind,
        /// The object's id.
        id: String,
        /// The active version the caller read, when it sent one.
        expected_version: Option<i64>,
    },
}

/// The most roles of each kind, checked when activation creates one (as immediate writes do).
#[derive(Debug, Clone, Copy)]
pub struct RoleCaps {
    /// Most API roles.
    pub api: i64,
    /// Most admin roles.
    pub admin: i64,
}

/// What an activation applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationReport {
    /// The changes applied, in the order they were applied (empty: nothing was pending).
    pub applied: Vec<PendingChange>,
    /// The configuration version every node converges on (the cluster's, after the commit).
    pub config_version: i64,
}

/// The active object a pending change is about.
struct ActiveObject {
    name: String,
    version: i64,
    builtin: bool,
    view: Value,
}

const COLUMNS: &str = "id, kind, target_id, action, name, body, base_version, key_check, staged_by, staged_at, version";

/// A pending row as stored (`before` is filled in by the reader).
struct PendingRow(PendingChange);

impl Stored for PendingRow {
    const TABLE: &'static str = "pending_changes";
    const COLUMNS: &'static str = COLUMNS;
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let kind: String = row.try_get("kind")?;
        let action: String = row.try_get("action")?;
        let body: Option<String> = row.try_get("body")?;
        let kind = PendingKind::parse(&kind)?;
        let after = body
            .as_deref()
            .map(|text| from_json::<Value>(text).map(|value| public_view(kind, value)))
            .transpose()?;
        let body = body.clone();
        Ok(Self(PendingChange {
            id: row.try_get("id")?,
            kind,
            target_id: row.try_get("target_id")?,
            action: PendingAction::parse(&action)?,
            name: row.try_get("name")?,
            before: None,
            after,
            base_version: row.try_get("base_version")?,
            staged_by: row.try_get("staged_by")?,
            staged_at: row.try_get("staged_at")?,
            version: row.try_get("version")?,
            fetch: row.try_get("key_check")?,
            body,
        }))
    }
    fn version(&self) -> i64 {
        self.0.version
    }
}

/// What the API and the audit log show of a stored definition: a CA bundle is public data but
/// long, so it is summarised (as the servers' own audit entries do).
fn public_view(kind: PendingKind, mut value: Value) -> Value {
    if kind == PendingKind::AuthorizationServers
        && let Some(pem) = value.get("caBundlePem").and_then(Value::as_str)
    {
        let summary = format!("({} bytes of PEM)", pem.len());
        value["caBundlePem"] = json!(summary);
    }
    value
}

/// The key check as kept with a staged server, with when it was made: activation records it
/// at that time, not as a fresh fetch, so the key manager refreshes keys that are already old
/// instead of trusting them for another full interval.
fn fetch_to_json(outcome: &FetchOutcome, at: i64) -> Result<String, StoreError> {
    let value = match outcome {
        FetchOutcome::Success { jwks, key_ids } => {
            json!({"ok": true, "jwks": jwks, "keyIds": key_ids, "at": at})
        }
        FetchOutcome::Failure { error } => json!({"ok": false, "error": error, "at": at}),
    };
    to_json(&value)
}

fn fetch_from_json(text: &str) -> Result<(FetchOutcome, i64), StoreError> {
    let value: Value = from_json(text)?;
    let corrupt = || StoreError::Corrupt("unreadable staged key check".to_owned());
    let at = value["at"].as_i64().ok_or_else(corrupt)?;
    let outcome = if value["ok"].as_bool().ok_or_else(corrupt)? {
        FetchOutcome::Success {
            jwks: value["jwks"].as_str().ok_or_else(corrupt)?.to_owned(),
            key_ids: serde_json::from_value(value["keyIds"].clone()).map_err(|_| corrupt())?,
        }
    } else {
        FetchOutcome::Failure {
            error: value["error"].as_str().ok_or_else(corrupt)?.to_owned(),
        }
    };
    Ok((outcome, at))
}

fn pending(message: impl Into<String>) -> StoreError {
    StoreError::Conflict(Conflict::Pending(message.into()))
}

/// The active object `id` of `kind`, read inside `tx` (or the pool).
async fn active_object<'e, E>(
    executor: E,
    org: i64,
    kind: PendingKind,
    id: &str,
) -> Result<Option<ActiveObject>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = match kind.role_kind() {
        None => {
            let table = match kind {
                PendingKind::AuthorizationServers => "authorization_servers",
                _ => "routes",
            };
            let sql = format!(
                "SELECT name, version, definition FROM {table} WHERE org_id = $1 AND id = $2"
            );
            sqlx::query(&sql)
                .bind(org)
                .bind(id)
                .fetch_optional(executor)
                .await?
        }
        Some(role_kind) => {
            sqlx::query(
                "SELECT name, version, permissions, builtin FROM roles \
                 WHERE org_id = $1 AND id = $2 AND kind = $3",
            )
            .bind(org)
            .bind(id)
            .bind(role_kind.name())
            .fetch_optional(executor)
            .await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let name: String = row.try_get("name")?;
    let (view, builtin) = if kind.role_kind().is_some() {
        let permissions: String = row.try_get("permissions")?;
        let permissions: Value = from_json(&permissions)?;
        let builtin = row.try_get::<i64, _>("builtin")? != 0;
        (json!({"name": name, "permissions": permissions}), builtin)
    } else {
        let definition: String = row.try_get("definition")?;
        (public_view(kind, from_json(&definition)?), false)
    };
    Ok(Some(ActiveObject {
        version: row.try_get("version")?,
        name,
        builtin,
        view,
    }))
}

/// The active objects of `kind` named `name`: their ids.
async fn active_ids_named(
    change: &mut Change,
    kind: PendingKind,
    name: &str,
) -> Result<Vec<String>, StoreError> {
    let org = change.org();
    let rows = match kind.role_kind() {
        None => {
            let table = match kind {
                PendingKind::AuthorizationServers => "authorization_servers",
                _ => "routes",
            };
            let sql = format!("SELECT id FROM {table} WHERE org_id = $1 AND name = $2");
            sqlx::query(&sql)
                .bind(org)
                .bind(name)
                .fetch_all(&mut **change.tx())
                .await?
        }
        Some(role_kind) => {
            sqlx::query("SELECT id FROM roles WHERE org_id = $1 AND name = $2 AND kind = $3")
                .bind(org)
                .bind(name)
                .bind(role_kind.name())
                .fetch_all(&mut **change.tx())
                .await?
        }
    };
    rows.iter()
        .map(|row| row.try_get::<String, _>("id").map_err(StoreError::from))
        .collect()
}

/// The org's activation mode as committed, read inside `change`.
async fn mode_in(change: &mut Change) -> Result<ActivationMode, StoreError> {
    let key = Key::org(change.org());
    match change.current::<OrgSettingsRecord>(&key, None).await {
        Ok(settings) => Ok(settings.activation),
        Err(StoreError::NotFound) => Ok(OrgSettingsRecord::default().activation),
        Err(other) => Err(other),
    }
}

/// The org's pending changes in staging order, read inside `change`.
async fn pending_in(change: &mut Change) -> Result<Vec<PendingChange>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM pending_changes WHERE org_id = $1 ORDER BY staged_at, id");
    let rows = sqlx::query(&sql)
        .bind(change.org())
        .fetch_all(&mut **change.tx())
        .await?;
    rows.iter()
        .map(|row| PendingRow::from_row(row).map(|r| r.0))
        .collect()
}

impl Store {
    /// The org's pending changes in staging order, each with the active object it changes.
    pub async fn list_pending(&self, org: i64) -> Result<Vec<PendingChange>, StoreError> {
        let rows: Vec<PendingRow> = self.list_rows(&Key::org(org), "staged_at, id").await?;
        let mut changes = Vec::with_capacity(rows.len());
        for PendingRow(mut change) in rows {
            if change.action != PendingAction::Create {
                change.before = active_object(&self.pool, org, change.kind, &change.target_id)
                    .await?
                    .map(|active| active.view);
            }
            changes.push(change);
        }
        Ok(changes)
    }

    /// How many changes are pending, by kind.
    pub async fn pending_counts(&self, org: i64) -> Result<PendingCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n FROM pending_changes WHERE org_id = $1 GROUP BY kind",
        )
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = PendingCounts::default();
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let n: i64 = row.try_get("n")?;
            counts.total += n;
            match PendingKind::parse(&kind)? {
                PendingKind::AuthorizationServers => counts.authorization_servers += n,
                PendingKind::Routes => counts.routes += n,
                PendingKind::ApiRoles => counts.api_roles += n,
                PendingKind::AdminRoles => counts.admin_roles += n,
            }
        }
        Ok(counts)
    }

    /// Stages `write` as `actor`'s pending change (merged into the pending change they already
    /// have on the object); audited as `stage_create`, `stage_update` or `stage_delete`.
    /// `Ok(None)` when the write cancels the author's own pending create (a delete of an object
    /// that was never activated). Refused when the org's activation is not `staged`, when another
    /// admin's pending change holds the object, or when a name would be used twice.
    pub async fn stage(
        &self,
        org: i64,
        write: &StagedWrite,
        actor: &Actor,
    ) -> Result<Option<PendingChange>, StoreError> {
        let mut change = self.change(org).await?;
        // Serialises stagers, activators and mode switches on PostgreSQL: two admins staging
        // the same object at once get the 409, not a unique-constraint failure.
        crate::lock_org(change.tx(), org).await?;
        if mode_in(&mut change).await? != ActivationMode::Staged {
            return Err(pending(
                "the org's activation is not `staged` (it changed meanwhile): send the write again",
            ));
        }
        let (kind, target_id, action) = match write {
            StagedWrite::Create(object) => (object.kind(), new_id(), PendingAction::Create),
            StagedWrite::Replace { id, object, .. } => {
                (object.kind(), id.clone(), PendingAction::Replace)
            }
            StagedWrite::Delete { kind, id, .. } => (*kind, id.clone(), PendingAction::Delete),
        };
        let expected_version = match write {
            StagedWrite::Create(_) => None,
            StagedWrite::Replace {
                expected_version, ..
            }
            | StagedWrite::Delete {
                expected_version, ..
            } => *expected_version,
        };
        let existing = find_pending(&mut change, kind, &target_id).await?;
        if let Some(existing) = &existing
            && existing.staged_by != actor.name
        {
            return Err(pending(format!(
                "{} has a pending change to this object; it must be activated or discarded first",
                existing.staged_by
            )));
        }
        let active = active_object(&mut **change.tx(), org, kind, &target_id).await?;
        // The object as the author sees it: the active one, or the one their pending create makes.
        let (base_version, active_name) = match (&active, &existing) {
            (Some(active), _) => {
                if active.builtin {
                    return Err(StoreError::Conflict(Conflict::InUse(
                        "built-in roles cannot be changed or deleted".to_owned(),
                    )));
                }
                if let Some(expected) = expected_version
                    && expected != active.version
                {
                    return Err(StoreError::Conflict(Conflict::StaleVersion {
                        current: active.version,
                    }));
                }
                (Some(active.version), Some(active.name.clone()))
            }
            (None, Some(existing)) if existing.action == PendingAction::Create => (None, None),
            (None, _) if action == PendingAction::Create => (None, None),
            (None, _) => return Err(StoreError::NotFound),
        };
        // Merging into the author's own pending change of the object.
        let merged = match (existing.as_ref().map(|e| e.action), action) {
            (Some(PendingAction::Delete), _) => {
                return Err(pending(
                    "your pending changes delete this object; discard that change to edit it",
                ));
            }
            (Some(PendingAction::Create), PendingAction::Delete) => None,
            (Some(PendingAction::Create), _) => Some(PendingAction::Create),
            (_, action) => Some(action),
        };
        let name = match write {
            StagedWrite::Create(object) | StagedWrite::Replace { object, .. } => {
                object.name().to_owned()
            }
            StagedWrite::Delete { .. } => existing
                .as_ref()
                .map(|e| e.name.clone())
                .or(active_name)
                .unwrap_or_default(),
        };
        if merged.is_some_and(|action| action != PendingAction::Delete) {
            check_name_free(&mut change, kind, &target_id, &name).await?;
        }
        let before = active.as_ref().map(|a| a.view.clone());
        let (body, fetch) = match write {
            StagedWrite::Create(object) | StagedWrite::Replace { object, .. } => {
                (Some(object.body()?), object.fetch(now_ms())?)
            }
            StagedWrite::Delete { .. } => (None, None),
        };
        let after = body
            .as_deref()
            .map(|text| from_json::<Value>(text).map(|v| public_view(kind, v)))
            .transpose()?;
        let now = now_ms();
        let pending_key = Key::org(org)
            .and("kind", kind.name())
            .and("target_id", &target_id);
        let staged = match (merged, &existing) {
            (None, _) => {
                change.delete::<PendingRow>(&pending_key).await?;
                None
            }
            (Some(merged), Some(existing)) => {
                let values = [
                    ("action", Arg::Str(merged.name())),
                    ("name", Arg::Str(&name)),
                    ("body", Arg::OptStr(body.as_deref())),
                    ("key_check", Arg::OptStr(fetch.as_deref())),
                    ("staged_at", Arg::Int(now)),
                ];
                let current = PendingRow(existing.clone());
                change.swap(&pending_key, &current, &values, None).await?;
                Some(existing.id.clone())
            }
            (Some(merged), None) => {
                let id = new_id();
                let values = [
                    ("id", Arg::Str(&id)),
                    ("kind", Arg::Str(kind.name())),
                    ("target_id", Arg::Str(&target_id)),
                    ("action", Arg::Str(merged.name())),
                    ("name", Arg::Str(&name)),
                    ("body", Arg::OptStr(body.as_deref())),
                    ("base_version", Arg::OptInt(base_version)),
                    ("key_check", Arg::OptStr(fetch.as_deref())),
                    ("staged_by", Arg::Str(&actor.name)),
                    ("staged_at", Arg::Int(now)),
                ];
                change.insert::<PendingRow>(&values, None).await?;
                Some(id)
            }
        };
        let mut entry =
            AuditEntry::success(action.stage_action(), kind.category(), &name, before, after);
        entry.detail = Some(match staged {
            Some(_) => "pending: applies when the configuration is activated".to_owned(),
            None => "withdraws the same admin's pending create".to_owned(),
        });
        match staged {
            None => {
                change.commit(actor, &entry).await?;
                Ok(None)
            }
            Some(id) => {
                let mut row: PendingRow = change
                    .commit_read(actor, &entry, &Key::org(org).and("id", &id))
                    .await?;
                if row.0.action != PendingAction::Create {
                    row.0.before = active_object(&self.pool, org, kind, &target_id)
                        .await?
                        .map(|a| a.view);
                }
                Ok(Some(row.0))
            }
        }
    }

    /// Withdraws pending change `id` (its author's, or anyone's for `any_author`); audited as
    /// `discard`.
    pub async fn discard_pending(
        &self,
        org: i64,
        id: &str,
        any_author: bool,
        actor: &Actor,
    ) -> Result<PendingChange, StoreError> {
        let mut change = self.change(org).await?;
        crate::lock_org(change.tx(), org).await?;
        let key = Key::org(org).and("id", id);
        let PendingRow(current) = change.current(&key, None).await?;
        if !any_author && current.staged_by != actor.name {
            return Err(pending(format!(
                "this change was staged by {}; only they or a Super Admin may discard it",
                current.staged_by
            )));
        }
        change.delete::<PendingRow>(&key).await?;
        let mut entry = AuditEntry::success(
            "discard",
            current.kind.category(),
            &current.name,
            None,
            current.after.clone(),
        );
        entry.detail = Some(format!(
            "pending {} staged by {}",
            current.action.name(),
            current.staged_by
        ));
        change.commit(actor, &entry).await?;
        Ok(current)
    }

    /// Applies pending changes in one transaction through the same steps as immediate writes:
    /// every pending change (`selection` `None`), or exactly the `(id, version)` pairs selected
    /// (what the caller reviewed and may change; the rest stay pending). Deletes first, then
    /// replaces, then creates, each in staging order, so a rename or delete frees its name before
    /// a create takes it. Each object is audited, then one `activate` entry (with `detail`) lists
    /// them. All or nothing: a selected change that is gone or was changed since it was selected,
    /// an object that moved on since staging, a limit or a name in use applies none of them.
    /// Nothing selected or pending: nothing is written.
    pub async fn activate(
        &self,
        org: i64,
        selection: Option<&[(String, i64)]>,
        caps: RoleCaps,
        actor: &Actor,
        detail: Option<String>,
    ) -> Result<ActivationReport, StoreError> {
        let mut change = self.change(org).await?;
        // Serialises with staging, discarding and mode switches on PostgreSQL (SQLite write
        // transactions are exclusive anyway).
        crate::lock_org(change.tx(), org).await?;
        let mut applied = pending_in(&mut change).await?;
        if let Some(selection) = selection {
            for (id, version) in selection {
                match applied.iter().find(|c| &c.id == id) {
                    Some(found) if found.version == *version => {}
                    _ => {
                        return Err(pending(
                            "a pending change you selected was changed, discarded or activated meanwhile: review them and activate again",
                        ));
                    }
                }
            }
            applied.retain(|c| selection.iter().any(|(id, _)| id == &c.id));
        }
        if applied.is_empty() {
            return Ok(ActivationReport {
                applied,
                config_version: self.config_version().await?,
            });
        }
        applied.sort_by_key(|c| {
            let rank = match c.action {
                PendingAction::Delete => 0,
                PendingAction::Replace => 1,
                PendingAction::Create => 2,
            };
            (rank, c.staged_at, c.id.clone())
        });
        for pending_change in &mut applied {
            // Claim the row at the version read: a concurrent activation (or a re-stage) makes
            // this touch no row, and the whole activation is refused instead of applying twice.
            let claimed = sqlx::query(
                "DELETE FROM pending_changes WHERE org_id = $1 AND id = $2 AND version = $3",
            )
            .bind(org)
            .bind(&pending_change.id)
            .bind(pending_change.version)
            .execute(&mut **change.tx())
            .await?;
            if claimed.rows_affected() != 1 {
                return Err(pending(
                    "the pending changes were activated or changed concurrently: review them and activate again",
                ));
            }
            let mut entry = apply_one(&mut change, pending_change, caps).await?;
            entry.detail = Some(format!("activated; staged by {}", pending_change.staged_by));
            change.record(actor, &entry).await?;
        }
        let listed: Vec<Value> = applied
            .iter()
            .map(|c| {
                json!({
                    "kind": c.kind.name(),
                    "action": c.action.name(),
                    "id": c.target_id,
                    "name": c.name,
                    "stagedBy": c.staged_by,
                })
            })
            .collect();
        let resource = format!("{} change(s)", applied.len());
        let mut entry = AuditEntry::success(
            "activate",
            ACTIVATION_CATEGORY,
            &resource,
            None,
            Some(json!(listed)),
        );
        entry.detail = detail;
        let version_row = sqlx::query("SELECT version FROM config_version WHERE id = 1")
            .fetch_one(&mut **change.tx())
            .await?;
        let config_version: i64 = version_row.try_get(0)?;
        change.commit(actor, &entry).await?;
        Ok(ActivationReport {
            applied,
            config_version,
        })
    }
}

/// The pending change of object `target_id` of `kind`, if any.
async fn find_pending(
    change: &mut Change,
    kind: PendingKind,
    target_id: &str,
) -> Result<Option<PendingChange>, StoreError> {
    let key = Key::org(change.org())
        .and("kind", kind.name())
        .and("target_id", target_id);
    match change.current::<PendingRow>(&key, None).await {
        Ok(PendingRow(row)) => Ok(Some(row)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Refuses `name` for object `target_id` when another object of the kind would have it once
/// everything pending is applied: another pending change's object, or an active object that no
/// pending change renames or deletes.
async fn check_name_free(
    change: &mut Change,
    kind: PendingKind,
    target_id: &str,
    name: &str,
) -> Result<(), StoreError> {
    let duplicate = || {
        StoreError::Conflict(Conflict::Duplicate {
            field: "name",
            value: name.to_owned(),
        })
    };
    let others = pending_in(change).await?;
    if others.iter().any(|other| {
        other.kind == kind
            && other.target_id != target_id
            && other.name == name
            && other.action != PendingAction::Delete
    }) {
        return Err(duplicate());
    }
    for id in active_ids_named(change, kind, name).await? {
        if id == target_id {
            continue;
        }
        let moves_away = others
            .iter()
            .any(|other| other.kind == kind && other.target_id == id && other.name != name)
            || others.iter().any(|other| {
                other.kind == kind && other.target_id == id && other.action == PendingAction::Delete
            });
        if !moves_away {
            return Err(duplicate());
        }
    }
    Ok(())
}

/// Applies one pending change inside `change` (checking the object is still at the version it
/// was staged against); the object's audit entry.
async fn apply_one(
    change: &mut Change,
    pending_change: &mut PendingChange,
    caps: RoleCaps,
) -> Result<AuditEntry, StoreError> {
    let org = change.org();
    let kind = pending_change.kind;
    let id = pending_change.target_id.clone();
    if let Some(base) = pending_change.base_version {
        let now = active_object(&mut **change.tx(), org, kind, &id).await?;
        match now {
            Some(active) if active.version == base => {
                pending_change.before = Some(active.view);
            }
            Some(active) => {
                return Err(pending(format!(
                    "{} `{}` changed since {} staged a change to it (version {base}, now {}): \
                     that change must be discarded and staged again",
                    kind.name(),
                    active.name,
                    pending_change.staged_by,
                    active.version
                )));
            }
            None => {
                return Err(pending(format!(
                    "{} `{}` was deleted since {} staged a change to it: that change must be discarded",
                    kind.name(),
                    pending_change.name,
                    pending_change.staged_by
                )));
            }
        }
    }
    let base = pending_change.base_version;
    let fetch = pending_change
        .fetch
        .as_deref()
        .map(fetch_from_json)
        .transpose()?;
    let (fetch, fetched_at) = match fetch {
        Some((outcome, at)) => (Some(outcome), at),
        None => (None, now_ms()),
    };
    match (kind, pending_change.action) {
        (_, PendingAction::Delete) => match kind.role_kind() {
            Some(role_kind) => Ok(roles::delete_role_in(change, role_kind, &id, base).await?.1),
            None if kind == PendingKind::Routes => {
                Ok(routes::delete_route_in(change, &id, base).await?.1)
            }
            None => Ok(servers::delete_server_in(change, &id, base).await?.1),
        },
        (PendingKind::AuthorizationServers, action) => {
            // The stored body, not the API view: the CA bundle must be applied whole.
            let definition: ServerDefinition = stored_body(pending_change)?;
            if action == PendingAction::Create {
                servers::create_server_in(change, &id, &definition, fetch.as_ref(), fetched_at)
                    .await
            } else {
                servers::update_server_in(
                    change,
                    &id,
                    base,
                    &definition,
                    fetch.as_ref(),
                    fetched_at,
                )
                .await
            }
        }
        (PendingKind::Routes, action) => {
            let definition: RouteDefinition = stored_body(pending_change)?;
            if action == PendingAction::Create {
                routes::create_route_in(change, &id, &definition).await
            } else {
                routes::update_route_in(change, &id, base, &definition).await
            }
        }
        (PendingKind::ApiRoles | PendingKind::AdminRoles, action) => {
            let input: RoleInput = stored_body(pending_change)?;
            let Some(role_kind) = kind.role_kind() else {
                return Err(StoreError::Corrupt(
                    "a role change without a role kind".to_owned(),
                ));
            };
            let max = match role_kind {
                RoleKind::Api => caps.api,
                RoleKind::Admin => caps.admin,
            };
            if action == PendingAction::Create {
                roles::create_role_in(change, role_kind, &id, &input, max).await
            } else {
                roles::update_role_in(change, role_kind, &id, base, &input).await
            }
        }
    }
}

/// The body of `pending_change` as stored (read with the row the activation claimed).
fn stored_body<T: serde::de::DeserializeOwned>(
    pending_change: &PendingChange,
) -> Result<T, StoreError> {
    let body = pending_change
        .body
        .as_deref()
        .ok_or_else(|| StoreError::Corrupt("a pending change without a body".to_owned()))?;
    from_json(body)
}

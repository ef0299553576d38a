//! Admins (portal and API users) and sign-in failure tracking for lockout.
//!
//! A password or role change and a delete end all of the admin's sessions (portal and legacy) in
//! the same transaction; the lockout counts attempts with one atomic conditional update per
//! attempt ([`Store::claim_login_attempt`]).

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::audit::AuditEntry;
use crate::repository::{Arg, Key, Stored};
use crate::sessions::{end_admin_sessions, record_session_change};
use crate::{Actor, Conflict, Store, StoreError, new_id, now_ms};

/// The audit category of admins.
const CATEGORY: &str = "admins";

/// A stored admin. The password hash never leaves the store except for verification.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(as = Admin))]
pub struct AdminRecord {
    /// Stable id.
    pub id: String,
    /// Sign-in name, unique per org.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Admin role id.
    pub role_id: String,
    /// argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
    /// Locked until (ms), after repeated failures.
    pub locked_until: Option<i64>,
    /// Version.
    pub version: i64,
    /// Created (ms).
    pub created_at: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

/// A new admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdmin {
    /// Sign-in name.
    pub login: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string (hashed by the caller).
    pub password_hash: String,
    /// Admin role id.
    pub role_id: String,
}

const COLUMNS: &str =
    "id, login, name, role_id, password_hash, locked_until, version, created_at, updated_at";

fn audit_view(admin: &NewAdmin) -> serde_json::Value {
    json!({"login": admin.login, "name": admin.name, "roleId": admin.role_id, "password": "(redacted)"})
}

/// The audit detail of an admin update.
fn update_detail(password_changed: bool, role_changed: bool, ended: u64) -> Option<String> {
    let what = match (password_changed, role_changed) {
        (true, true) => "password and role changed",
        (true, false) => "password changed",
        (false, true) => "role changed",
        (false, false) => return None,
    };
    Some(format!("{what}; ended {ended} session(s)"))
}

/// Fails with [`StoreError::UnknownReference`] on `roleId` unless `role_id` is an admin role of
/// `org`.
async fn require_admin_role(
    tx: &mut Transaction<'_, Any>,
    org: i64,
    role_id: &str,
) -> Result<(), StoreError> {
    let role: Option<(String,)> =
        sqlx::query_as("SELECT id FROM roles WHERE org_id = $1 AND kind = 'admin' AND id = $2")
            .bind(org)
            .bind(role_id)
            .fetch_optional(&mut **tx)
            .await?;
    match role {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownReference {
            field: "roleId",
            message: format!("no admin role with id `{role_id}`"),
        }),
    }
}

/// Number of admins in the org.
async fn count_admins<'e, E>(executor: E, org: i64) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM admins WHERE org_id = $1")
        .bind(org)
        .fetch_one(executor)
        .await?;
    Ok(n)
}

impl Stored for AdminRecord {
    const TABLE: &'static str = "admins";
    const COLUMNS: &'static str = COLUMNS;
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.try_get("id")?,
            login: row.try_get("login")?,
            name: row.try_get("name")?,
            role_id: row.try_get("role_id")?,
            password_hash: row.try_get("password_hash")?,
            locked_until: row.try_get("locked_until")?,
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
    /// Number of admins in the org.
    pub async fn count_admins(&self, org: i64) -> Result<i64, StoreError> {
        count_admins(&self.pool, org).await
    }

    /// Admins of the org, by login.
    pub async fn list_admins(&self, org: i64) -> Result<Vec<AdminRecord>, StoreError> {
        self.list_rows(&Key::org(org), "login").await
    }

    /// One admin by id.
    pub async fn get_admin(&self, org: i64, id: &str) -> Result<AdminRecord, StoreError> {
        self.get_row(&Key::id(org, id)).await
    }

    /// One admin by login.
    pub async fn find_admin_by_login(
        &self,
        org: i64,
        login: &str,
    ) -> Result<Option<AdminRecord>, StoreError> {
        self.find_row(&Key::org(org).and("login", login)).await
    }

    /// Creates an admin (the role must be an admin role of the org).
    pub async fn create_admin(
        &self,
        org: i64,
        admin: &NewAdmin,
        actor: &Actor,
    ) -> Result<AdminRecord, StoreError> {
        let mut change = self.change(org).await?;
        require_admin_role(change.tx(), org, &admin.role_id).await?;
        let id = new_id();
        let now = now_ms();
        let values = [
            ("id", Arg::Str(&id)),
            ("login", Arg::Str(&admin.login)),
            ("name", Arg::Str(&admin.name)),
            ("password_hash", Arg::Str(&admin.password_hash)),
            ("role_id", Arg::Str(&admin.role_id)),
            ("created_at", Arg::Int(now)),
            ("updated_at", Arg::Int(now)),
        ];
        change
            .insert::<AdminRecord>(&values, Some(("login", &admin.login)))
            .await?;
        let after = Some(audit_view(admin));
        let entry = AuditEntry::success("create", CATEGORY, &admin.login, None, after);
        change.commit_read(actor, &entry, &Key::id(org, &id)).await
    }

    /// Replaces an admin's name, role and (when given) password hash.
    pub async fn update_admin(
        &self,
        org: i64,
        id: &str,
        expected_version: Option<i64>,
        update: &NewAdmin,
        actor: &Actor,
    ) -> Result<AdminRecord, StoreError> {
        let key = Key::id(org, id);
        let mut change = self.change(org).await?;
        let current: AdminRecord = change.current(&key, expected_version).await?;
        // The foreign key alone would accept an API role (same table) and report a missing one as
        // a database error; an admin's role must be an admin role of this org.
        require_admin_role(change.tx(), org, &update.role_id).await?;
        let password_changed = !update.password_hash.is_empty();
        let hash = if password_changed {
            &update.password_hash
        } else {
            &current.password_hash
        };
        let values = [
            ("login", Arg::Str(&update.login)),
            ("name", Arg::Str(&update.name)),
            ("password_hash", Arg::Str(hash)),
            ("role_id", Arg::Str(&update.role_id)),
            ("updated_at", Arg::Int(now_ms())),
        ];
        change
            .swap(&key, &current, &values, Some(("login", &update.login)))
            .await?;
        // A new password or role ends every session of the admin, in this transaction (a crash
        // cannot leave them); a new login only makes other nodes re-read cached legacy sessions
        // (they forward the login).
        let role_changed = update.role_id != current.role_id;
        let ended = if password_changed || role_changed {
            end_admin_sessions(change.tx(), org, id).await?
        } else {
            if update.login != current.login {
                record_session_change(change.tx(), org, Some(id)).await?;
            }
            0
        };
        let before = NewAdmin {
            login: current.login.clone(),
            name: current.name.clone(),
            password_hash: String::new(),
            role_id: current.role_id.clone(),
        };
        let (before, after) = (Some(audit_view(&before)), Some(audit_view(update)));
        let entry = AuditEntry::success("update", CATEGORY, &update.login, before, after)
            .with_detail(update_detail(password_changed, role_changed, ended));
        change.commit_read(actor, &entry, &key).await
    }

    /// Deletes an admin (never the last one).
    pub async fn delete_admin(
        &self,
        org: i64,
        id: &str,
        actor: &Actor,
    ) -> Result<AdminRecord, StoreError> {
        let key = Key::id(org, id);
        let mut change = self.change(org).await?;
        let current: AdminRecord = change.current(&key, None).await?;
        if count_admins(&mut **change.tx(), org).await? <= 1 {
            return Err(StoreError::Conflict(Conflict::InUse(
                "the last admin cannot be deleted".into(),
            )));
        }
        let ended = end_admin_sessions(change.tx(), org, id).await?;
        change.delete::<AdminRecord>(&key).await?;
        let before =
            json!({"login": current.login, "name": current.name, "roleId": current.role_id});
        let entry = AuditEntry::success("delete", CATEGORY, &current.login, Some(before), None)
            .with_detail((ended > 0).then(|| format!("ended {ended} session(s)")));
        change.commit(actor, &entry).await?;
        Ok(current)
    }

    /// Counts one sign-in attempt against the lockout, before its password is checked: one
    /// conditional `UPDATE ... RETURNING`, atomic on both engines (SQLite runs one writer at a
    /// time; PostgreSQL locks the row and re-checks the condition on its newest version), so
    /// parallel attempts can never take more than `threshold` slots in one window.
    ///
    /// The window of `window_ms` starts at the first attempt after the previous one ended.
    /// Returns the attempt's number in its window (1..=`threshold`), or `None` when the admin is
    /// locked or the window's attempts are used up: the caller must refuse without checking the
    /// password. A successful sign-in calls [`Store::clear_login_failures`]; a failed one whose
    /// number was `threshold` calls [`Store::lock_admin`].
    pub async fn claim_login_attempt(
        &self,
        org: i64,
        admin_id: &str,
        threshold: i64,
        window_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let now = now_ms();
        let window_start = now.saturating_sub(window_ms);
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE admins SET \
               failed_attempts = CASE WHEN failures_since IS NULL OR failures_since <= $1 \
                                 THEN 1 ELSE failed_attempts + 1 END, \
               failures_since = CASE WHEN failures_since IS NULL OR failures_since <= $1 \
                                THEN $2 ELSE failures_since END \
             WHERE org_id = $3 AND id = $4 \
               AND (locked_until IS NULL OR locked_until <= $2) \
               AND (failures_since IS NULL OR failures_since <= $1 OR failed_attempts < $5) \
             RETURNING failed_attempts",
        )
        .bind(window_start)
        .bind(now)
        .bind(org)
        .bind(admin_id)
        .bind(threshold)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(n,)| n))
    }

    /// Locks the admin for `lock_ms` from now (the attempt that used the window's last slot
    /// failed) and starts a fresh window for after the lock.
    pub async fn lock_admin(
        &self,
        org: i64,
        admin_id: &str,
        lock_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE admins SET locked_until = $1, failed_attempts = 0, failures_since = NULL \
             WHERE org_id = $2 AND id = $3",
        )
        .bind(now_ms().saturating_add(lock_ms))
        .bind(org)
        .bind(admin_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed sign-in the old way (count, then lock at `threshold`), for callers that
    /// do not claim attempts first: one [`Store::claim_login_attempt`], then [`Store::lock_admin`]
    /// when it used the last slot. Returns whether the admin is now locked.
    pub async fn record_login_failure(
        &self,
        org: i64,
        admin_id: &str,
        threshold: i64,
        window_ms: i64,
        lock_ms: i64,
    ) -> Result<bool, StoreError> {
        match self
            .claim_login_attempt(org, admin_id, threshold, window_ms)
            .await?
        {
            Some(n) if n < threshold => Ok(false),
            _ => {
                self.lock_admin(org, admin_id, lock_ms).await?;
                Ok(true)
            }
        }
    }

    /// Clears failures and any lock after a successful sign-in.
    pub async fn clear_login_failures(&self, org: i64, admin_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE admins SET locked_until = NULL, failed_attempts = 0, failures_since = NULL \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(admin_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

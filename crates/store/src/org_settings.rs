//! The org's governance settings (one row per org, versioned and audited through the
//! repository skeleton) and the shared counters of the rate limits' long windows.

use portcullis_policy::governance::{Activation, OrgSettingsInput, RateLimits};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::AuditEntry;
use crate::repository::{Arg, Key, Stored};
use crate::{Actor, Store, StoreError, from_json, now_ms, to_json};

/// The org's settings as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(as = OrgSettings))]
pub struct OrgSettingsRecord {
    /// How configuration changes take effect.
    pub activation: Activation,
    /// Whether every write of the cloud service API is refused (403 `STATE_READONLY`).
    pub read_only: bool,
    /// The rate limits.
    pub rate_limits: RateLimits,
    /// Version (compare-and-swap).
    pub version: i64,
    /// Updated (ms).
    pub updated_at: i64,
}

impl OrgSettingsRecord {
    /// The settings without the bookkeeping.
    pub fn input(&self) -> OrgSettingsInput {
        OrgSettingsInput {
            activation: self.activation,
            read_only: self.read_only,
            rate_limits: self.rate_limits.clone(),
        }
    }

    fn from_input(input: OrgSettingsInput, version: i64, updated_at: i64) -> Self {
        Self {
            activation: input.activation,
            read_only: input.read_only,
            rate_limits: input.rate_limits,
            version,
            updated_at,
        }
    }
}

impl Default for OrgSettingsRecord {
    /// The documented defaults (an org whose row is missing reads as these).
    fn default() -> Self {
        Self::from_input(OrgSettingsInput::default(), 0, 0)
    }
}

impl Stored for OrgSettingsRecord {
    const TABLE: &'static str = "org_settings";
    const COLUMNS: &'static str = "settings, version, updated_at";
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let settings: String = row.try_get("settings")?;
        Ok(Self::from_input(
            from_json(&settings)?,
            row.try_get("version")?,
            row.try_get("updated_at")?,
        ))
    }
    fn version(&self) -> i64 {
        self.version
    }
}

/// The audit category of the settings.
const CATEGORY: &str = "orgSettings";

fn view(input: &OrgSettingsInput) -> Option<serde_json::Value> {
    serde_json::to_value(input).ok()
}

impl Store {
    /// The org's settings (the defaults when it has no row).
    pub async fn get_org_settings(&self, org: i64) -> Result<OrgSettingsRecord, StoreError> {
        Ok(self.find_row(&Key::org(org)).await?.unwrap_or_default())
    }

    /// Replaces the org's settings if they are still at `expected_version` (any version when
    /// `None`); audited as `update` of `orgSettings`.
    pub async fn put_org_settings(
        &self,
        org: i64,
        expected_version: Option<i64>,
        input: &OrgSettingsInput,
        actor: &Actor,
    ) -> Result<OrgSettingsRecord, StoreError> {
        let key = Key::org(org);
        let mut change = self.change(org).await?;
        // Serialised with staging (`pending.rs`): a switch to immediate cannot miss a change
        // being staged at the same moment.
        crate::lock_org(change.tx(), org).await?;
        let json = to_json(input)?;
        let now = now_ms();
        let before = match change
            .current::<OrgSettingsRecord>(&key, expected_version)
            .await
        {
            Ok(current) => {
                let values = [("settings", Arg::Str(&json)), ("updated_at", Arg::Int(now))];
                change.swap(&key, &current, &values, None).await?;
                current.input()
            }
            Err(StoreError::NotFound) => {
                crate::repository::check_version(&OrgSettingsRecord::default(), expected_version)?;
                let values = [("settings", Arg::Str(&json)), ("updated_at", Arg::Int(now))];
                change.insert::<OrgSettingsRecord>(&values, None).await?;
                OrgSettingsInput::default()
            }
            Err(other) => return Err(other),
        };
        if before.activation == Activation::Staged && input.activation == Activation::Immediate {
            // Pending changes would otherwise sit there with no way to apply them, while new
            // writes went live around them.
            let (pending,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM pending_changes WHERE org_id = $1")
                    .bind(org)
                    .fetch_one(&mut **change.tx())
                    .await?;
            if pending > 0 {
                return Err(StoreError::Conflict(crate::Conflict::Pending(format!(
                    "{pending} change(s) are pending: activate or discard them before switching activation to `immediate`"
                ))));
            }
        }
        let action = match (before.read_only, input.read_only) {
            (false, true) => "enable_read_only",
            (true, false) => "disable_read_only",
            _ => "update",
        };
        let entry =
            AuditEntry::success(action, CATEGORY, "orgSettings", view(&before), view(input));
        change.commit_read(actor, &entry, &key).await
    }

    /// Counts one request of `caller` under `rule` in the window starting at `window_start`
    /// (one atomic upsert, shared by every node); the count including this request.
    pub async fn count_request(
        &self,
        org: i64,
        caller: &str,
        rule: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO rate_counters (org_id, caller, rule, window_start, count) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (org_id, caller, rule, window_start) \
             DO UPDATE SET count = rate_counters.count + 1 RETURNING count",
        )
        .bind(org)
        .bind(caller)
        .bind(rule)
        .bind(window_start)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Deletes the counters of windows that started before `before` (Unix ms); how many.
    pub async fn prune_rate_counters(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM rate_counters WHERE window_start < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

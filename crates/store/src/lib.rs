//! Persistence for Portcullis: one set of repository operations over two real backends,
//! embedded SQLite (the zero-setup default) and PostgreSQL (the multi-node store), with versioned
//! migrations applied at start-up.
//!
//! Invariants:
//! - every query is scoped by `org_id`: no operation reads or changes another org's rows;
//! - every configuration change writes its audit entry in the same transaction, so a change is
//!   never recorded without happening, nor happens without being recorded;
//! - concurrent updates carry the version they were based on; a stale version is a
//!   [`StoreError::Conflict`], never a lost write.
//!
//! The write skeleton (transaction, read, version compare, compare-and-swap, audit, commit) is
//! written once, in `repository.rs`, and every repository goes through it; the per-org limit
//! rules are written once, in `limits.rs` ([`Store::check_limits`] answers them for a plan).
//!
//! Both backends run the same SQL through `sqlx`'s `Any` driver. Portability rules for queries
//! here: numbered placeholders `$1, $2, ...` in ascending order of first use; times as BIGINT
//! milliseconds; booleans as BIGINT 0/1; JSON as TEXT.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod admins;
mod audit;
pub mod cluster;
mod configuration;
mod credentials;
mod decisions;
mod key_history;
mod limits;
mod org_settings;
mod pending;
mod repository;
mod roles;
mod routes;
mod servers;
mod sessions;

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use admins::{AdminRecord, NewAdmin};
pub use audit::{AuditEntry, AuditFilter, AuditRecord, AuditResult, Interface};
pub use cluster::{ConfigEvent, ConfigListener, NodeKeyStatus, NodeRecord};
pub use configuration::Configuration;
pub use credentials::{ApiKeyChange, ApiKeyRecord, LegacySessionRecord, SandboxTokenRecord};
pub use decisions::DecisionMinute;
pub use key_history::{KeyFetch, KeySeen};
pub use limits::{Limit, LimitBreach, LimitedChange};
pub use org_settings::OrgSettingsRecord;
pub use pending::{
    ACTIVATION_CATEGORY, ActivationReport, PendingAction, PendingChange, PendingCounts,
    PendingKind, RoleCaps, StagedObject, StagedWrite,
};
pub use roles::{RoleRecord, SUPER_ADMIN_ROLE};
pub use routes::RouteRecord;
pub use servers::{FetchOutcome, FetchStatus, ServerRecord};
pub use sessions::{SESSIONS_CHANNEL, SessionChange, SessionRecord};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (WAL mode).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist in this org.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule or a version precondition failed.
    #[error("{0}")]
    Conflict(Conflict),
    /// A field names something that does not exist in the org (e.g. an admin's `roleId`): the
    /// caller's input is wrong, not the state of the row.
    #[error("{field}: {message}")]
    UnknownReference {
        /// The camelCase field name.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An org limit would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The database cannot be reached (connection refused, pool timeout): retryable.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL is not usable.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

/// The kind of conflict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Another row of the org already uses this value of `field`.
    #[error("{field} `{value}` is already in use")]
    Duplicate {
        /// The camelCase field name.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The row changed since the caller read it.
    #[error(
        "the resource was changed by someone else (now at version {current}); reload and retry"
    )]
    StaleVersion {
        /// The current version.
        current: i64,
    },
    /// The row is referenced or built in.
    #[error("{0}")]
    InUse(String),
    /// A resource that exists at most once already exists (e.g. the org's API key).
    #[error("{0}")]
    Exists(String),
    /// Staged configuration: another admin's pending change holds the object, the object moved
    /// on since the change was staged, or the org's activation mode does not allow the write.
    #[error("{0}")]
    Pending(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
            // SQLite's lock stayed taken past busy_timeout: retryable, like a pool timeout.
            sqlx::Error::Database(ref db)
                if is_outage(db.code().as_deref(), db.message()) || is_sqlite_busy(db.as_ref()) =>
            {
                StoreError::Unavailable(err.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

/// PostgreSQL errors that mean "the database is not there right now" rather than "this query
/// is wrong": connection exceptions (class 08), operator intervention (57P01 shutdown, 57P02
/// crash, 57P03 cannot connect now), insufficient resources (class 53), and a database that
/// does not accept connections (55000 with a connection message). Callers answer 503 for these,
/// so clients retry instead of reporting a bug.
fn is_outage(code: Option<&str>, message: &str) -> bool {
    code.is_some_and(|c| {
        c.starts_with("08")
            || c.starts_with("57P")
            || c.starts_with("53")
            || (c == "55000" && message.contains("connection"))
    })
}

/// Takes the org row for the rest of `tx`: transactions that check a per-org limit queue here
/// instead of all counting the same number and passing the limit together (a no-op write locks
/// the row on PostgreSQL; SQLite write transactions are already exclusive).
pub(crate) async fn lock_org(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    org: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE orgs SET created_at = created_at WHERE id = $1")
        .bind(org)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// SQLITE_BUSY and its extended codes (RECOVERY, SNAPSHOT, TIMEOUT).
fn is_sqlite_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code()
        .is_some_and(|c| matches!(c.as_ref(), "5" | "261" | "517" | "773"))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code()
                .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Which kind of role (API roles and admin roles share one table; see `roles.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    /// API role (DESIGN.md §1.2).
    Api,
    /// Admin role (DESIGN.md §1.5).
    Admin,
}

impl RoleKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RoleKind::Api => "api",
            RoleKind::Admin => "admin",
        }
    }
    pub(crate) fn category(self) -> &'static str {
        match self {
            RoleKind::Api => "apiRoles",
            RoleKind::Admin => "admins",
        }
    }
}

/// Who makes a change, from where and through which interface: recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Login of an admin, `oauth-<role>$@<org>.<cloud>` for tokens, `config` or `system`.
    pub name: String,
    /// Client IP address, when the change came over the network.
    pub client_ip: Option<String>,
    /// Which interface.
    pub interface: Interface,
}

impl Actor {
    /// Changes made by Portcullis itself (bootstrap, declarative config).
    pub fn system(name: &str, interface: Interface) -> Self {
        Self {
            name: name.to_owned(),
            client_ip: None,
            interface,
        }
    }
}

/// An organization (tenant) and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// Numeric org id.
    pub id: i64,
    /// Most authorization servers.
    pub max_authorization_servers: i64,
    /// Most enabled authorization servers.
    pub max_enabled_authorization_servers: i64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The connection URL, for connections outside the pool (PostgreSQL `LISTEN`).
    url: std::sync::Arc<str>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens `url` (`sqlite://path` or `postgres://...`), creating a SQLite file and its folder
    /// when missing, and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::InvalidUrl(
                "use sqlite://PATH or postgres://...".into(),
            ));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options =
            AnyConnectOptions::from_str(&url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // busy_timeout first: switching to WAL itself needs the lock when several
                        // connections open at once.
                        conn.execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.into()))?;
        Ok(Self {
            pool,
            backend,
            url: std::sync::Arc::from(url.as_str()),
        })
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait
    /// for the lock when another writer committed meanwhile (SQLite answers `database is locked`
    /// at once, `busy_timeout` notwithstanding), so concurrent API writes failed with 500.
    /// Starting as a writer makes them queue on `busy_timeout` instead. PostgreSQL's row locks
    /// and version checks need no such thing.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The org with `id`, creating it (and its built-in Super Admin role) when missing. With no
    /// id, the first org, or a new one with a generated id.
    pub async fn ensure_org(&self, id: Option<i64>) -> Result<Org, StoreError> {
        let existing = match id {
            Some(id) => self.get_org(id).await?,
            None => {
                let first: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM orgs ORDER BY created_at LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await?;
                match first {
                    Some((id,)) => self.get_org(id).await?,
                    None => None,
                }
            }
        };
        if let Some(org) = existing {
            return Ok(org);
        }
        let id = id.unwrap_or_else(generate_org_id);
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO orgs (id, created_at) VALUES ($1, $2)")
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        roles::insert_super_admin(&mut tx, id).await?;
        sqlx::query(
            "INSERT INTO org_settings (org_id, settings, version, updated_at) VALUES ($1, '{}', 1, $2)",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.get_org(id).await?.ok_or(StoreError::NotFound)
    }

    /// An org by id.
    pub async fn get_org(&self, id: i64) -> Result<Option<Org>, StoreError> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT id, max_authorization_servers, max_enabled_authorization_servers FROM orgs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, max, max_enabled)| Org {
            id,
            max_authorization_servers: max,
            max_enabled_authorization_servers: max_enabled,
        }))
    }

    /// Sets an org's server limits.
    pub async fn set_org_limits(
        &self,
        org: i64,
        max: i64,
        max_enabled: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE orgs SET max_authorization_servers = $1, max_enabled_authorization_servers = $2 WHERE id = $3")
            .bind(max)
            .bind(max_enabled)
            .bind(org)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A six-digit org id, as the product this is modelled on uses.
fn generate_org_id() -> i64 {
    let seed = uuid::Uuid::new_v4().as_u128();
    100_000 + i64::try_from(seed % 900_000).unwrap_or(0)
}

fn sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::InvalidUrl(
            "SQLite needs a file path (sqlite://DIR/portcullis.db)".into(),
        ));
    }
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::InvalidUrl(format!("cannot create {}: {e}", parent.display()))
        })?;
    }
    Ok(format!("sqlite://{path}?mode=rwc"))
}

/// Maps a unique-constraint failure to a field conflict, other errors through `From`.
fn map_unique(err: sqlx::Error, field: &'static str, value: &str) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict(Conflict::Duplicate {
            field,
            value: value.to_owned(),
        })
    } else {
        err.into()
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Helpers for other crates' tests (creating throw-away PostgreSQL databases).
pub mod testing {
    use sqlx::{Connection, Executor};

    /// Creates database `name` on the server of `admin_url`.
    pub async fn create_postgres_database(
        admin_url: &str,
        name: &str,
    ) -> Result<(), crate::StoreError> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(crate::StoreError::InvalidUrl(
                "database names are letters, digits and _".into(),
            ));
        }
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        Ok(())
    }

    /// Makes database `name` unreachable (`reachable = false`: new connections refused, open
    /// ones terminated) or reachable again: a database outage for fault tests, without
    /// stopping the shared PostgreSQL server.
    pub async fn set_postgres_database_reachable(
        admin_url: &str,
        name: &str,
        reachable: bool,
    ) -> Result<(), crate::StoreError> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(crate::StoreError::InvalidUrl(
                "database names are letters, digits and _".into(),
            ));
        }
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        conn.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}").as_str())
            .await?;
        if !reachable {
            conn.execute(
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                )
                .as_str(),
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_outage;

    #[test]
    fn outages_are_told_apart_from_query_errors() {
        for code in ["08006", "08001", "57P01", "57P03", "53300"] {
            assert!(is_outage(Some(code), "x"), "{code}");
        }
        assert!(is_outage(
            Some("55000"),
            "database \"x\" is not currently accepting connections"
        ));
        for code in ["23505", "42P01", "22P02", "40001"] {
            assert!(!is_outage(Some(code), "connection"), "{code}");
        }
        assert!(!is_outage(Some("55000"), "object in use"));
        assert!(!is_outage(None, "connection"));
    }
}

//! The whole configuration a node decides with, read as one consistent snapshot.
//!
//! A node rebuilds from several tables. Read one by one (each statement its own snapshot on
//! PostgreSQL's default READ COMMITTED), a rebuild that overlapped an activation could see the
//! servers before it and the routes after it, and serve that mix until the next rebuild. One
//! read-only REPEATABLE READ transaction (a deferred read transaction on SQLite in WAL mode gives
//! the same guarantee) makes every rebuild see exactly one committed configuration, and the
//! configuration version read with it is the version of what was read.

use crate::org_settings::OrgSettingsRecord;
use crate::repository::{Key, find_row_on, list_rows_on};
use crate::{Backend, RoleKind, RoleRecord, RouteRecord, ServerRecord, Store, StoreError};

/// One org's configuration as of one committed version.
#[derive(Debug)]
pub struct Configuration {
    /// The cluster's configuration version this is.
    pub config_version: i64,
    /// Authorization servers, by name.
    pub servers: Vec<ServerRecord>,
    /// API roles, by name.
    pub api_roles: Vec<RoleRecord>,
    /// Routes, by name.
    pub routes: Vec<RouteRecord>,
    /// The org's settings (the defaults when it has no row); an error when the stored row
    /// cannot be decoded, so the caller can keep its current settings and still load the rest.
    pub org_settings: Result<OrgSettingsRecord, StoreError>,
}

impl Store {
    /// `org`'s servers, API roles, routes and settings, and the configuration version, all
    /// from one committed state.
    pub async fn read_configuration(&self, org: i64) -> Result<Configuration, StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let row: (i64,) = sqlx::query_as("SELECT version FROM config_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let servers = list_rows_on(&mut tx, &Key::org(org), "name").await?;
        let role_key = Key::org(org).and("kind", RoleKind::Api.name());
        let api_roles = list_rows_on(&mut tx, &role_key, "name").await?;
        let routes = list_rows_on(&mut tx, &Key::org(org), "name").await?;
        let org_settings = find_row_on::<OrgSettingsRecord>(&mut tx, &Key::org(org))
            .await
            .map(Option::unwrap_or_default);
        tx.commit().await?;
        Ok(Configuration {
            config_version: row.0,
            servers,
            api_roles,
            routes,
            org_settings,
        })
    }
}

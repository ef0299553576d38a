//! The repository skeleton, written once: how a kind of row is read ([`Stored`], [`Key`]) and the
//! audited write transaction every configuration change goes through ([`Change`]).
//!
//! A change is [`Store::change`] (a write transaction: `BEGIN IMMEDIATE` on SQLite), then the
//! steps it needs, in the order it needs them:
//! - [`Change::current`]: the row as it is inside the transaction (`NotFound` when missing), its
//!   version compared with the caller's (`Conflict::StaleVersion { current }`);
//! - [`Change::insert`] (version 1), [`Change::swap`] (compare-and-swap on the version read, so a
//!   writer that got in between makes it `StaleVersion { current + 1 }`), [`Change::delete`];
//!   a unique-constraint failure is `Conflict::Duplicate` on the field the caller names;
//! - [`Change::commit`], the only way to commit: it appends the audit entry in the same
//!   transaction, so nothing changes unrecorded.
//!
//! Statements are generated from column lists, with numbered placeholders in ascending order
//! of first use (the crate's portability rule) and every `WHERE` starting with `org_id`.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use crate::audit::{AuditEntry, append_in};
use crate::{Actor, Conflict, Store, StoreError, map_unique};

/// A write transaction.
pub(crate) type Tx = Transaction<'static, Any>;

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// A kind of stored row the skeleton reads and changes.
pub(crate) trait Stored: Sized {
    /// Its table.
    const TABLE: &'static str;
    /// The columns [`Stored::from_row`] reads.
    const COLUMNS: &'static str;
    /// Decodes one row.
    fn from_row(row: &AnyRow) -> Result<Self, StoreError>;
    /// The compare-and-swap version.
    fn version(&self) -> i64;
}

/// One value bound to a generated statement.
pub(crate) enum Arg<'a> {
    Int(i64),
    /// Stored as BIGINT 0/1.
    Bool(bool),
    OptInt(Option<i64>),
    Str(&'a str),
    OptStr(Option<&'a str>),
    Owned(String),
}

impl Arg<'_> {
    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Arg::Int(v) => query.bind(*v),
            Arg::Bool(v) => query.bind(i64::from(*v)),
            Arg::OptInt(v) => query.bind(*v),
            Arg::Str(v) => query.bind(*v),
            Arg::OptStr(v) => query.bind(*v),
            Arg::Owned(v) => query.bind(v.as_str()),
        }
    }
}

/// Column/value pairs of an `INSERT` or of an `UPDATE`'s `SET`.
pub(crate) type Values<'a> = [(&'static str, Arg<'a>)];

/// Which rows of one org a statement reads or changes: `org_id` and equality on text columns.
pub(crate) struct Key<'a> {
    org: i64,
    columns: Vec<(&'static str, &'a str)>,
}

impl<'a> Key<'a> {
    /// Every row of `org`.
    pub(crate) fn org(org: i64) -> Self {
        Self {
            org,
            columns: Vec::new(),
        }
    }

    /// The row of `org` with `id`.
    pub(crate) fn id(org: i64, id: &'a str) -> Self {
        Self::org(org).and("id", id)
    }

    /// Narrows to rows whose `column` is `value`.
    pub(crate) fn and(mut self, column: &'static str, value: &'a str) -> Self {
        self.columns.push((column, value));
        self
    }

    /// `org_id = $first AND column = $first+1 ...`
    fn clause(&self, first: usize) -> String {
        let mut sql = format!("org_id = ${first}");
        for (n, (column, _)) in self.columns.iter().enumerate() {
            sql.push_str(&format!(" AND {column} = ${}", first + 1 + n));
        }
        sql
    }

    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        self.columns
            .iter()
            .fold(query.bind(self.org), |q, (_, value)| q.bind(*value))
    }
}

fn bind_all<'q>(query: AnyQuery<'q>, values: &'q Values<'_>) -> AnyQuery<'q> {
    values.iter().fold(query, |q, (_, arg)| arg.bind(q))
}

fn select_sql<R: Stored>(key: &Key<'_>) -> String {
    format!(
        "SELECT {} FROM {} WHERE {}",
        R::COLUMNS,
        R::TABLE,
        key.clause(1)
    )
}

/// A unique-constraint failure becomes `Conflict::Duplicate` on this field and value.
pub(crate) type Unique<'a> = Option<(&'static str, &'a str)>;

fn on_unique(err: sqlx::Error, unique: Unique<'_>) -> StoreError {
    match unique {
        Some((field, value)) => map_unique(err, field, value),
        None => err.into(),
    }
}

/// A stale version when `expected` is given and is not `current`'s version.
pub(crate) fn check_version<R: Stored>(
    current: &R,
    expected: Option<i64>,
) -> Result<(), StoreError> {
    match expected {
        Some(expected) if expected != current.version() => {
            Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version(),
            }))
        }
        _ => Ok(()),
    }
}

impl Store {
    /// The row under `key`, if any.
    pub(crate) async fn find_row<R: Stored>(&self, key: &Key<'_>) -> Result<Option<R>, StoreError> {
        let sql = select_sql::<R>(key);
        let row = key
            .bind(sqlx::query(&sql))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(R::from_row).transpose()
    }

    /// The row under `key`; `NotFound` when missing.
    pub(crate) async fn get_row<R: Stored>(&self, key: &Key<'_>) -> Result<R, StoreError> {
        self.find_row(key).await?.ok_or(StoreError::NotFound)
    }

    /// The rows under `key`, ordered by `order_by`.
    pub(crate) async fn list_rows<R: Stored>(
        &self,
        key: &Key<'_>,
        order_by: &str,
    ) -> Result<Vec<R>, StoreError> {
        let sql = format!("{} ORDER BY {order_by}", select_sql::<R>(key));
        let rows = key.bind(sqlx::query(&sql)).fetch_all(&self.pool).await?;
        rows.iter().map(R::from_row).collect()
    }

    /// Starts an audited change of `org`'s rows.
    ///
    /// (Reads that must agree with each other use [`Store::read_consistent`] instead.)
    pub(crate) async fn change(&self, org: i64) -> Result<Change, StoreError> {
        Ok(Change {
            tx: self.begin_write().await?,
            org,
        })
    }
}

/// The rows under `key`, ordered by `order_by`, read on `conn` (inside a transaction).
pub(crate) async fn list_rows_on<R: Stored>(
    conn: &mut sqlx::AnyConnection,
    key: &Key<'_>,
    order_by: &str,
) -> Result<Vec<R>, StoreError> {
    let sql = format!("{} ORDER BY {order_by}", select_sql::<R>(key));
    let rows = key.bind(sqlx::query(&sql)).fetch_all(conn).await?;
    rows.iter().map(R::from_row).collect()
}

/// The row under `key`, if any, read on `conn` (inside a transaction).
pub(crate) async fn find_row_on<R: Stored>(
    conn: &mut sqlx::AnyConnection,
    key: &Key<'_>,
) -> Result<Option<R>, StoreError> {
    let sql = select_sql::<R>(key);
    let row = key.bind(sqlx::query(&sql)).fetch_optional(conn).await?;
    row.as_ref().map(R::from_row).transpose()
}

/// An audited write transaction on one org's rows (see the module documentation). Dropped
/// without [`Change::commit`], it rolls back.
pub(crate) struct Change {
    tx: Tx,
    org: i64,
}

impl Change {
    /// The transaction, for steps of one repository (ending sessions, recording a fetch).
    pub(crate) fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// The org whose rows change.
    pub(crate) fn org(&self) -> i64 {
        self.org
    }

    /// The row under `key` inside the transaction; `NotFound` when missing; a stale version
    /// when `expected` is given and differs.
    pub(crate) async fn current<R: Stored>(
        &mut self,
        key: &Key<'_>,
        expected: Option<i64>,
    ) -> Result<R, StoreError> {
        let sql = select_sql::<R>(key);
        let row = key
            .bind(sqlx::query(&sql))
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let current = R::from_row(&row)?;
        check_version(&current, expected)?;
        Ok(current)
    }

    /// Inserts a row of the org at version 1 (`org_id` and `version` are added to `values`).
    pub(crate) async fn insert<R: Stored>(
        &mut self,
        values: &Values<'_>,
        unique: Unique<'_>,
    ) -> Result<(), StoreError> {
        let columns: Vec<&str> = values.iter().map(|(column, _)| *column).collect();
        let placeholders: Vec<String> = (2..values.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "INSERT INTO {} (org_id, {}, version) VALUES ($1, {}, 1)",
            R::TABLE,
            columns.join(", "),
            placeholders.join(", ")
        );
        bind_all(sqlx::query(&sql).bind(self.org), values)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| on_unique(e, unique))?;
        Ok(())
    }

    /// Sets `values` on the row under `key` if it is still at `current`'s version, and bumps
    /// the version; a writer that got in between makes it a stale version.
    pub(crate) async fn swap<R: Stored>(
        &mut self,
        key: &Key<'_>,
        current: &R,
        values: &Values<'_>,
        unique: Unique<'_>,
    ) -> Result<(), StoreError> {
        let set: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(n, (column, _))| format!("{column} = ${}", n + 1))
            .collect();
        let sql = format!(
            "UPDATE {} SET {}, version = version + 1 WHERE {} AND version = ${}",
            R::TABLE,
            set.join(", "),
            key.clause(values.len() + 1),
            values.len() + key.columns.len() + 2
        );
        let done = key
            .bind(bind_all(sqlx::query(&sql), values))
            .bind(current.version())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| on_unique(e, unique))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(Conflict::StaleVersion {
                current: current.version() + 1,
            }));
        }
        Ok(())
    }

    /// Deletes the rows of `R` under `key`; how many.
    pub(crate) async fn delete<R: Stored>(&mut self, key: &Key<'_>) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM {} WHERE {}", R::TABLE, key.clause(1));
        let done = key.bind(sqlx::query(&sql)).execute(&mut *self.tx).await?;
        Ok(done.rows_affected())
    }

    /// Appends `entry` (by `actor`) now; the change still needs its own entry at commit (for
    /// changes made of several, like an activation: one entry per object, then the summary).
    pub(crate) async fn record(
        &mut self,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        append_in(&mut self.tx, self.org, actor, entry).await
    }

    /// Appends `entry` (by `actor`), reads the row under `key` as committed, and commits.
    pub(crate) async fn commit_read<R: Stored>(
        mut self,
        actor: &Actor,
        entry: &AuditEntry,
        key: &Key<'_>,
    ) -> Result<R, StoreError> {
        append_in(&mut self.tx, self.org, actor, entry).await?;
        let row = self.current(key, None).await?;
        self.tx.commit().await?;
        Ok(row)
    }

    /// Appends `entry` (by `actor`) and commits.
    pub(crate) async fn commit(
        mut self,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        append_in(&mut self.tx, self.org, actor, entry).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

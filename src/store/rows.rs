//! What the tables' code shares, so each table file says only what is its own: a row's values
//! as `Columns` (column names and typed values, bound in order) from which the INSERT and
//! UPDATE texts are built; `from_row!`, one row mapping for both backends' rows (`from_columns!`
//! where each field is read from the column of its name); a `Table`
//! (name, columns read, order, unique indexes); and the reads (`rows`, `row`, `select`,
//! `by_id`) and audited writes (`insert_audited`, `insert_sealed`, `update_audited`,
//! `delete_audited`) that are the same for every table.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::audit::{commit_change, write_audit};
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, unique_conflict, with_pool};

/// One bound value of a statement.
#[derive(Debug, Clone)]
pub enum Param {
    Text(Option<String>),
    Int(Option<i64>),
    Flag(bool),
    Bytes(Vec<u8>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_string()))
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_string))
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

impl From<bool> for Param {
    fn from(v: bool) -> Self {
        Self::Flag(v)
    }
}

impl From<&[u8]> for Param {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}

/// Binds every param of `$params` (an iterator of `&Param`) to the query `$q`, in order.
macro_rules! bind_params {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                $crate::store::rows::Param::Text(t) => q.bind(t.clone()),
                $crate::store::rows::Param::Int(i) => q.bind(*i),
                $crate::store::rows::Param::Flag(b) => q.bind(*b),
                $crate::store::rows::Param::Bytes(b) => q.bind(b.clone()),
            };
        }
        q
    }};
}
pub(crate) use bind_params;

/// The values of a row to write: column names and values, in order.
#[derive(Debug, Clone, Default)]
pub struct Columns(Vec<(String, Param)>);

impl Columns {
    pub fn new() -> Self {
        Self::default()
    }

    /// `column` takes `value`.
    pub fn set(mut self, column: impl Into<String>, value: impl Into<Param>) -> Self {
        self.0.push((column.into(), value.into()));
        self
    }

    /// Made, and so last changed, by `actor` now: the stamps of an INSERT.
    pub fn created_by(self, actor: &str) -> Self {
        let now = now_ms();
        self.set("created_at", now)
            .set("created_by", actor)
            .updated(now, actor)
    }

    /// Last changed by `actor` now: the stamps of an UPDATE.
    pub fn updated_by(self, actor: &str) -> Self {
        self.updated(now_ms(), actor)
    }

    fn updated(self, now: i64, actor: &str) -> Self {
        self.set("updated_at", now).set("updated_by", actor)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.0.iter().map(|(_, p)| p)
    }

    /// `INSERT INTO {table} (a, b) VALUES ($1, $2) RETURNING id`.
    pub fn insert_sql(&self, table: &str) -> String {
        let names: Vec<&str> = self.0.iter().map(|(c, _)| c.as_str()).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING id",
            names.join(", "),
            marks.join(", ")
        )
    }

    /// `UPDATE {table} SET a = $1, b = $2 WHERE id = $3` (the id is bound last).
    pub fn update_sql(&self, table: &str) -> String {
        let set: Vec<String> = (self.0.iter().enumerate())
            .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
            .collect();
        let id = self.0.len() + 1;
        format!("UPDATE {table} SET {} WHERE id = ${id}", set.join(", "))
    }
}

/// Inserts `$columns` (a `&Columns`) into `$table` through `$exec`: the new row's id.
macro_rules! insert_row {
    ($exec:expr, $table:expr, $columns:expr) => {{
        let columns: &$crate::store::rows::Columns = $columns;
        let sql = sqlx::AssertSqlSafe(columns.insert_sql($table));
        $crate::store::rows::bind_params!(sqlx::query_scalar::<_, i64>(sql), columns.params())
            .fetch_one($exec)
            .await
    }};
}
pub(crate) use insert_row;

/// Writes `$columns` (a `&Columns`) to row `$id` of `$table` through `$exec`: the query's
/// result (no rows affected: there is no such row).
macro_rules! update_row {
    ($exec:expr, $table:expr, $columns:expr, $id:expr) => {{
        let columns: &$crate::store::rows::Columns = $columns;
        let sql = sqlx::AssertSqlSafe(columns.update_sql($table));
        $crate::store::rows::bind_params!(sqlx::query(sql), columns.params())
            .bind($id)
            .execute($exec)
            .await
    }};
}
pub(crate) use update_row;

/// Implements `sqlx::FromRow` for both backends' rows with one body, which reads the row `$r`
/// (with `try_get`) and returns `Result<$t, sqlx::Error>`.
macro_rules! from_row {
    ($t:ty, |$r:ident| $body:expr) => {
        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $t {
            fn from_row($r: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                $body
            }
        }
        impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for $t {
            fn from_row($r: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                $body
            }
        }
    };
}
pub(crate) use from_row;

/// `from_row!` for a struct each of whose fields is read from the column of its name:
/// `from_columns!(TokenRow { id, name, created_at })`.
macro_rules! from_columns {
    ($t:ident { $($field:ident),* $(,)? }) => {
        $crate::store::rows::from_row!($t, |r| {
            Ok($t {
                $($field: r.try_get(stringify!($field))?,)*
            })
        });
    };
}
pub(crate) use from_columns;

/// The error of a stored row that does not parse into its domain type.
pub fn not_valid(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

/// A type read from rows of either backend (see `from_row!`; tuples of plain values are too).
pub trait FromEitherRow:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> FromEitherRow for T where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

/// Unique indexes and the conflict each one means: (text in the index name, field, message).
pub type Conflicts = &'static [(&'static str, &'static str, &'static str)];

/// A table rows of one type are read from and written to.
pub struct Table {
    pub name: &'static str,
    /// What the row type reads.
    pub columns: &'static str,
    /// The order of a list.
    pub order: &'static str,
    /// What its unique indexes refuse.
    pub conflicts: Conflicts,
}

impl Table {
    /// `SELECT {columns} FROM {name} {filter} ORDER BY {order}`.
    pub fn select(&self, filter: &str) -> String {
        let Self {
            name,
            columns,
            order,
            ..
        } = self;
        format!("SELECT {columns} FROM {name} {filter} ORDER BY {order}")
    }
}

impl Store {
    /// Every row `sql` selects, with `params` bound in order.
    pub(crate) async fn rows<T: FromEitherRow>(
        &self,
        sql: impl Into<String>,
        params: &[Param],
    ) -> StoreResult<Vec<T>> {
        let sql = sqlx::AssertSqlSafe(sql.into());
        with_pool!(self, |pool| {
            let q = bind_params!(sqlx::query_as::<_, T>(sql), params);
            Ok(q.fetch_all(pool).await?)
        })
    }

    /// The first row `sql` selects (or changes and returns), if any.
    pub(crate) async fn row<T: FromEitherRow>(
        &self,
        sql: impl Into<String>,
        params: &[Param],
    ) -> StoreResult<Option<T>> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// The rows of `table` that `filter` (`WHERE …`, with `params`) keeps, in its order.
    pub(crate) async fn select<T: FromEitherRow>(
        &self,
        table: &Table,
        filter: &str,
        params: &[Param],
    ) -> StoreResult<Vec<T>> {
        self.rows(table.select(filter), params).await
    }

    /// Row `id` of `table`; `NotFound` when there is none.
    pub(crate) async fn by_id<T: FromEitherRow>(&self, table: &Table, id: i64) -> StoreResult<T> {
        let found = self
            .row(table.select("WHERE id = $1"), &[id.into()])
            .await?;
        found.ok_or(StoreError::NotFound)
    }

    /// Inserts `columns` into `table` and writes `audit` about the new row, in one transaction:
    /// the new id.
    pub(crate) async fn insert_audited(
        &self,
        table: &Table,
        columns: Columns,
        audit: AuditEntry,
    ) -> StoreResult<i64> {
        (self.insert_sealed(table, columns, audit, |_| Columns::new())).await
    }

    /// `insert_audited`, then `then(id)` gives columns the row can only have once its id is
    /// known (a secret sealed to it), written in the same transaction.
    pub(crate) async fn insert_sealed(
        &self,
        table: &Table,
        columns: Columns,
        audit: AuditEntry,
        then: impl FnOnce(i64) -> Columns,
    ) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id = insert_row!(&mut *tx, table.name, &columns)
                .map_err(|e| unique_conflict(e, table.conflicts))?;
            let later = then(id);
            if !later.is_empty() {
                update_row!(&mut *tx, table.name, &later, id)?;
            }
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Writes `columns` to row `id` of `table` and `audit` about it, in one transaction;
    /// `NotFound` (and nothing written) when there is no such row.
    pub(crate) async fn update_audited(
        &self,
        table: &Table,
        id: i64,
        columns: Columns,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = update_row!(&mut *tx, table.name, &columns, id)
                .map_err(|e| unique_conflict(e, table.conflicts))?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }

    /// Deletes row `id` of `table` and writes `audit` about it, in one transaction; `NotFound`
    /// when there is no such row.
    pub(crate) async fn delete_audited(
        &self,
        table: &Table,
        id: i64,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let sql = format!("DELETE FROM {} WHERE id = $1", table.name);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_and_update_bind_the_columns_in_order() {
        let c = Columns::new().set("name", "a").set("size", 3);
        assert_eq!(
            c.insert_sql("things"),
            "INSERT INTO things (name, size) VALUES ($1, $2) RETURNING id"
        );
        assert_eq!(
            c.update_sql("things"),
            "UPDATE things SET name = $1, size = $2 WHERE id = $3"
        );
        let stamped = Columns::new().set("name", "a").created_by("cli:x");
        let names: Vec<&str> = stamped.0.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "name",
                "created_at",
                "created_by",
                "updated_at",
                "updated_by"
            ]
        );
    }
}

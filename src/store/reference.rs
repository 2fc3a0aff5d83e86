//! Rows of every kind of reference record (workspaces, project types, clients with their email
//! domains, contacts…), from its `Spec`: the SQL is built from the spec's table and field
//! names, never from input. Inserts take a slice so a bulk import is one transaction: all rows
//! or none. Deleting a row something still uses is refused with a conflict naming the users.
//! At the end, typed look-ups for routing and the pages that show names.

use std::collections::HashMap;

use sqlx::Row;

use super::audit::write_audit;
use super::rows::{Columns, Param, bind_params, insert_row, update_row};
use super::{AuditEntry, Store, StoreError, StoreResult, unique_conflict, with_pool};
use crate::domain::{
    Client, Contact, Field, Kind, ProjectType, Record, Spec, Value, Workspace, capitalised, key,
    record_specs,
};

/// Who made and last changed a row.
#[derive(Debug, Clone)]
pub struct Stamps {
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// One stored record: its values in the order of its spec's fields.
#[derive(Debug, Clone)]
pub struct RecordRow {
    pub spec: &'static Spec,
    pub id: i64,
    pub values: Vec<Value>,
    pub stamps: Stamps,
}

impl RecordRow {
    pub fn value(&self, field: &str) -> &Value {
        self.spec.value(&self.values, field)
    }

    /// What names it in messages and lists: its first field.
    pub fn title(&self) -> String {
        self.values.first().map(Value::shown).unwrap_or_default()
    }
}

/// Inserts the list values of record `$id` (a client's email domains) in the transaction `$tx`.
macro_rules! insert_lists {
    ($tx:ident, $spec:expr, $lists:expr, $id:expr, $values:expr) => {
        for (i, table, owner, column) in $lists {
            let sql = format!("INSERT INTO {table} ({owner}, {column}) VALUES ($1, $2)");
            for v in $values.get(*i).map_or(&[][..], Value::as_list) {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind($id)
                    .bind(v)
                    .execute(&mut *$tx)
                    .await
                    .map_err(|e| on_unique($spec, e))?;
            }
        }
    };
}

/// Deletes the list values of record `$id` in the transaction `$tx`.
macro_rules! delete_lists {
    ($tx:ident, $lists:expr, $id:expr) => {
        for (_, table, owner, _) in $lists {
            let sql = format!("DELETE FROM {table} WHERE {owner} = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind($id)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// The columns of a record's values (a unique text also in `{name}_key`); lists are apart.
fn columns(spec: &Spec, values: &[Value]) -> Columns {
    let mut out = Columns::new();
    for (f, v) in spec.fields.iter().zip(values) {
        match v {
            Value::Id(id) => out = out.set(f.name, *id),
            Value::Text(t) => {
                out = out.set(f.name, t.clone());
                if f.unique.is_some() {
                    out = out.set(format!("{}_key", f.name), t.as_deref().map(key));
                }
            }
            Value::List(_) => {}
        }
    }
    out
}

/// The list fields: (index, table, owner column, value column).
fn lists(spec: &Spec) -> Vec<(usize, &'static str, &'static str, &'static str)> {
    let fields = spec.fields.iter().enumerate();
    fields
        .filter_map(|(i, f)| match f.kind {
            Kind::List {
                table,
                owner,
                column,
            } => Some((i, table, owner, column)),
            _ => None,
        })
        .collect()
}

fn select(spec: &Spec, filter: &str) -> String {
    let columns: Vec<&str> = spec
        .fields
        .iter()
        .filter(|f| !matches!(f.kind, Kind::List { .. }))
        .map(|f| f.name)
        .collect();
    let order = match spec.fields.first() {
        Some(f) if f.unique.is_some() => format!("{}_key", f.name),
        Some(f) => f.name.to_string(),
        None => "id".to_string(),
    };
    format!(
        "SELECT id, {}, created_at, created_by, updated_at, updated_by FROM {} {filter} \
         ORDER BY {order}, id",
        columns.join(", "),
        spec.table
    )
}

/// Who still uses a row, one label per user: the spec's outside users and every record kind
/// with a reference to it.
fn users(spec: &Spec) -> Option<String> {
    let mut parts: Vec<String> = spec
        .used_by
        .iter()
        .map(|u| {
            format!(
                "SELECT '{} ' || {} AS who FROM {} WHERE {} = $1",
                u.label, u.shown, u.table, u.column
            )
        })
        .collect();
    for other in record_specs() {
        for f in other.fields {
            if let Kind::Ref(to) = f.kind
                && to.noun == spec.noun
            {
                let shown = other.fields.first().map_or("id", |f| f.name);
                parts.push(format!(
                    "SELECT '{} ' || {shown} AS who FROM {} WHERE {} = $1",
                    other.label, other.table, f.name
                ));
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(" UNION ALL "))
}

/// A unique index refused a value the app's checks let through (two changes at once).
fn on_unique(spec: &Spec, e: sqlx::Error) -> StoreError {
    let rules: Vec<(String, &'static str, String)> = spec
        .fields
        .iter()
        .filter_map(|f| {
            let one = f.unique?;
            let column = match f.kind {
                Kind::List { table, .. } => table.to_string(),
                _ => format!("{}_key", f.name),
            };
            let message = format!(
                "{} already belongs to another {}.",
                capitalised(one),
                spec.label
            );
            Some((column, f.name, message))
        })
        .collect();
    let rules: Vec<(&str, &'static str, &str)> = rules
        .iter()
        .map(|(c, f, m)| (c.as_str(), *f, m.as_str()))
        .collect();
    unique_conflict(e, &rules)
}

/// The refusal when a row is still used: "… is still used by alias a@x, client Acme".
fn in_use(what: String, users: Vec<String>) -> StoreError {
    const SHOWN: usize = 10;
    let mut list = users
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if users.len() > SHOWN {
        list.push_str(&format!(" and {} more", users.len() - SHOWN));
    }
    StoreError::Conflict {
        field: "id",
        message: format!(
            "{what} is still used by {list}: change or delete {} first; nothing was deleted.",
            if users.len() == 1 { "it" } else { "them" }
        ),
    }
}

impl Store {
    async fn record_rows(
        &self,
        spec: &'static Spec,
        filter: &str,
        param: Option<Param>,
    ) -> StoreResult<Vec<RecordRow>> {
        let sql = select(spec, filter);
        let lists = lists(spec);
        with_pool!(self, |pool| {
            let rows = bind_params!(sqlx::query(sqlx::AssertSqlSafe(sql)), param.iter())
                .fetch_all(pool)
                .await?;
            let mut listed: HashMap<(usize, i64), Vec<String>> = HashMap::new();
            for (i, table, owner, column) in &lists {
                let sql = format!(
                    "SELECT {owner} AS owner, {column} AS value FROM {table} WHERE {owner} IN \
                     (SELECT id FROM {} {filter}) ORDER BY {column}",
                    spec.table
                );
                let q = bind_params!(sqlx::query(sqlx::AssertSqlSafe(sql)), param.iter());
                for r in q.fetch_all(pool).await? {
                    let entry = listed.entry((*i, r.try_get("owner")?)).or_default();
                    entry.push(r.try_get("value")?);
                }
            }
            rows.iter()
                .map(|r| {
                    let id: i64 = r.try_get("id")?;
                    let mut values = Vec::with_capacity(spec.fields.len());
                    for (i, f) in spec.fields.iter().enumerate() {
                        values.push(match f.kind {
                            Kind::List { .. } => {
                                Value::List(listed.remove(&(i, id)).unwrap_or_default())
                            }
                            Kind::Ref(_) => Value::Id(r.try_get(f.name)?),
                            Kind::Text | Kind::Email => Value::Text(r.try_get(f.name)?),
                        });
                    }
                    let stamps = Stamps {
                        created_at: r.try_get("created_at")?,
                        created_by: r.try_get("created_by")?,
                        updated_at: r.try_get("updated_at")?,
                        updated_by: r.try_get("updated_by")?,
                    };
                    Ok(RecordRow {
                        spec,
                        id,
                        values,
                        stamps,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    pub async fn list_records(&self, spec: &'static Spec) -> StoreResult<Vec<RecordRow>> {
        self.record_rows(spec, "", None).await
    }

    pub async fn get_record(&self, spec: &'static Spec, id: i64) -> StoreResult<RecordRow> {
        self.record_rows(spec, "WHERE id = $1", Some(Param::from(id)))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// The record whose unique `field` holds `value` (compared without regard to case).
    pub async fn find_record(
        &self,
        spec: &'static Spec,
        field: &Field,
        value: &str,
    ) -> StoreResult<Option<RecordRow>> {
        let filter = match field.kind {
            Kind::List {
                table,
                owner,
                column,
            } => format!("WHERE id IN (SELECT {owner} FROM {table} WHERE {column} = $1)"),
            _ => format!("WHERE {}_key = $1", field.name),
        };
        let param = Some(Param::from(key(value)));
        Ok(self.record_rows(spec, &filter, param).await?.pop())
    }

    /// Inserts every record in one transaction; `progress(done, total)` after each.
    pub async fn insert_records(
        &self,
        spec: &'static Spec,
        records: &[Vec<Value>],
        audit: AuditEntry,
        mut progress: impl FnMut(u64, u64),
    ) -> StoreResult<Vec<i64>> {
        let total = records.len() as u64;
        let lists = lists(spec);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut ids = Vec::with_capacity(records.len());
            for (done, values) in records.iter().enumerate() {
                let columns = columns(spec, values).created_by(&audit.actor);
                let id =
                    insert_row!(&mut *tx, spec.table, &columns).map_err(|e| on_unique(spec, e))?;
                insert_lists!(tx, spec, &lists, id, values);
                ids.push(id);
                progress(done as u64 + 1, total);
            }
            let audit = if ids.len() == 1 {
                audit.target(ids[0])
            } else {
                audit
            };
            write_audit!(&mut *tx, &audit)?;
            tx.commit().await?;
            Ok::<_, StoreError>(ids)
        })
    }

    pub async fn update_record(
        &self,
        spec: &'static Spec,
        id: i64,
        values: &[Value],
        audit: AuditEntry,
    ) -> StoreResult<RecordRow> {
        let columns = columns(spec, values).updated_by(&audit.actor);
        let lists = lists(spec);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done =
                update_row!(&mut *tx, spec.table, &columns, id).map_err(|e| on_unique(spec, e))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            delete_lists!(tx, &lists, id);
            insert_lists!(tx, spec, &lists, id, values);
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
        });
        self.get_record(spec, id).await
    }

    /// Deletes a record nothing uses; else a conflict naming the users, and nothing changes.
    pub async fn delete_record(
        &self,
        spec: &'static Spec,
        id: i64,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let title = spec.fields.first().map_or("id", |f| f.name);
        let find = format!("SELECT {title} FROM {} WHERE id = $1", spec.table);
        let users = users(spec);
        let lists = lists(spec);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let title: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(find))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(title) = title else {
                return Err(StoreError::NotFound);
            };
            if let Some(sql) = users {
                let users: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?;
                if !users.is_empty() {
                    return Err(in_use(format!("{} {title:?}", spec.title()), users));
                }
            }
            delete_lists!(tx, &lists, id);
            let sql = format!("DELETE FROM {} WHERE id = $1", spec.table);
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- typed look-ups

/// The two kinds of reference data that are just a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKind {
    Workspace,
    ProjectType,
}

impl NamedKind {
    pub fn spec(self) -> &'static Spec {
        match self {
            Self::Workspace => Workspace::SPEC,
            Self::ProjectType => ProjectType::SPEC,
        }
    }
}

/// A workspace or project type.
#[derive(Debug, Clone)]
pub struct NamedRow {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub client_number: Option<String>,
    pub email_domains: Vec<String>,
    pub default_workspace_id: i64,
}

#[derive(Debug, Clone)]
pub struct ContactRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub client_id: Option<i64>,
    pub workspace_id: i64,
}

impl From<RecordRow> for NamedRow {
    fn from(r: RecordRow) -> Self {
        Self {
            id: r.id,
            name: r.title(),
        }
    }
}

impl From<RecordRow> for ClientRow {
    fn from(r: RecordRow) -> Self {
        Self {
            id: r.id,
            name: r.title(),
            client_number: r.value("client_number").as_text().map(str::to_string),
            email_domains: r.value("email_domains").as_list().to_vec(),
            default_workspace_id: r.value("default_workspace_id").as_id().unwrap_or(0),
        }
    }
}

impl From<RecordRow> for ContactRow {
    fn from(r: RecordRow) -> Self {
        Self {
            id: r.id,
            email: r.title(),
            name: r.value("name").shown(),
            client_id: r.value("client_id").as_id(),
            workspace_id: r.value("workspace_id").as_id().unwrap_or(0),
        }
    }
}

impl Store {
    async fn find_typed<R: Record, T: From<RecordRow>>(
        &self,
        field: &str,
        value: &str,
    ) -> StoreResult<Option<T>> {
        let Some(field) = R::SPEC.field(field) else {
            return Ok(None);
        };
        Ok(self.find_record(R::SPEC, field, value).await?.map(T::from))
    }

    pub async fn get_named(&self, kind: NamedKind, id: i64) -> StoreResult<NamedRow> {
        self.get_record(kind.spec(), id).await.map(NamedRow::from)
    }

    /// The built-in project type (marked at migration, whatever its name now): the default of
    /// aliases given none.
    pub async fn built_in_project_type(&self) -> StoreResult<Option<i64>> {
        with_pool!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT id FROM project_types WHERE built_in")
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    pub async fn get_client(&self, id: i64) -> StoreResult<ClientRow> {
        self.get_record(Client::SPEC, id).await.map(ClientRow::from)
    }

    /// The client whose number (compared without regard to case) is `number`.
    pub async fn client_by_number(&self, number: &str) -> StoreResult<Option<ClientRow>> {
        self.find_typed::<Client, _>("client_number", number).await
    }

    /// The client one of whose email domains is `domain`.
    pub async fn client_by_domain(&self, domain: &str) -> StoreResult<Option<ClientRow>> {
        self.find_typed::<Client, _>("email_domains", domain).await
    }

    pub async fn get_contact(&self, id: i64) -> StoreResult<ContactRow> {
        self.get_record(Contact::SPEC, id)
            .await
            .map(ContactRow::from)
    }

    /// The contact with this address (compared without regard to case).
    pub async fn contact_by_email(&self, email: &str) -> StoreResult<Option<ContactRow>> {
        self.find_typed::<Contact, _>("email", email).await
    }
}

//! Reference data rows: workspaces, project types, clients (with their email domains) and
//! contacts. Inserts take a slice so a bulk import is one transaction: all rows or none.
//! Deleting a row something still uses is refused with a conflict naming the users.

use serde::Serialize;
use sqlx::Row;

use super::audit::{commit_change, write_audit};
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, unique_conflict, with_pool};
use crate::domain::{ClientFields, ContactFields, RefName};

/// The two kinds of reference data that are just a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKind {
    Workspace,
    ProjectType,
}

impl NamedKind {
    /// For messages: "workspace", "project type".
    pub fn label(self) -> &'static str {
        match self {
            Self::Workspace => "workspace",
            Self::ProjectType => "project type",
        }
    }

    /// For audit target types and actions.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Workspace => "workspace",
            Self::ProjectType => "project_type",
        }
    }

    fn select(self) -> &'static str {
        match self {
            Self::Workspace => {
                "SELECT id, name, created_at, created_by, updated_at, updated_by FROM workspaces"
            }
            Self::ProjectType => {
                "SELECT id, name, created_at, created_by, updated_at, updated_by FROM project_types"
            }
        }
    }

    fn insert(self) -> &'static str {
        match self {
            Self::Workspace => {
                "INSERT INTO workspaces (name, name_key, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $3, $4) RETURNING id"
            }
            Self::ProjectType => {
                "INSERT INTO project_types (name, name_key, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $3, $4) RETURNING id"
            }
        }
    }

    fn update(self) -> &'static str {
        match self {
            Self::Workspace => {
                "UPDATE workspaces SET name = $1, name_key = $2, updated_at = $3, updated_by = $4 WHERE id = $5"
            }
            Self::ProjectType => {
                "UPDATE project_types SET name = $1, name_key = $2, updated_at = $3, updated_by = $4 WHERE id = $5"
            }
        }
    }

    fn delete(self) -> &'static str {
        match self {
            Self::Workspace => "DELETE FROM workspaces WHERE id = $1",
            Self::ProjectType => "DELETE FROM project_types WHERE id = $1",
        }
    }

    /// Who still uses a row: one label per user.
    fn users(self) -> &'static str {
        match self {
            Self::Workspace => {
                "SELECT 'alias ' || email_alias AS who FROM aliases WHERE workspace_id = $1 \
                 UNION ALL SELECT 'client ' || name AS who FROM clients WHERE default_workspace_id = $1 \
                 UNION ALL SELECT 'contact ' || email AS who FROM contacts WHERE workspace_id = $1"
            }
            Self::ProjectType => {
                "SELECT 'alias ' || email_alias AS who FROM aliases WHERE project_type_id = $1"
            }
        }
    }

    fn conflicts(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Self::Workspace => &[(
                "name_key",
                "name",
                "A workspace with this name already exists (names are compared without regard to case).",
            )],
            Self::ProjectType => &[(
                "name_key",
                "name",
                "A project type with this name already exists (names are compared without regard to case).",
            )],
        }
    }
}

/// Who made and last changed a row.
#[derive(Debug, Clone, Serialize)]
pub struct Stamps {
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamedRow {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub stamps: Stamps,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub client_number: Option<String>,
    pub email_domains: Vec<String>,
    pub default_workspace_id: i64,
    #[serde(skip)]
    pub stamps: Stamps,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub client_id: Option<i64>,
    pub workspace_id: i64,
    #[serde(skip)]
    pub stamps: Stamps,
}

macro_rules! stamps {
    ($r:expr) => {
        Stamps {
            created_at: $r.try_get("created_at")?,
            created_by: $r.try_get("created_by")?,
            updated_at: $r.try_get("updated_at")?,
            updated_by: $r.try_get("updated_by")?,
        }
    };
}

macro_rules! named_from_row {
    ($r:expr) => {
        NamedRow {
            id: $r.try_get("id")?,
            name: $r.try_get("name")?,
            stamps: stamps!($r),
        }
    };
}

const CLIENT_SELECT: &str = "SELECT id, name, client_number, default_workspace_id, created_at, created_by, \
     updated_at, updated_by FROM clients";
const CONTACT_SELECT: &str = "SELECT id, email, name, client_id, workspace_id, created_at, created_by, \
     updated_at, updated_by FROM contacts";

const CLIENT_CONFLICTS: &[(&str, &str, &str)] = &[
    (
        "client_number",
        "client_number",
        "A client with this Client Number already exists (compared without regard to case).",
    ),
    (
        "client_domains",
        "email_domains",
        "One of these email domains already belongs to another client.",
    ),
];
const CONTACT_CONFLICTS: &[(&str, &str, &str)] = &[(
    "email_key",
    "email",
    "A contact with this email address already exists (compared without regard to case).",
)];

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
    pub async fn list_named(&self, kind: NamedKind) -> StoreResult<Vec<NamedRow>> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{} ORDER BY name_key, id", kind.select())))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok(named_from_row!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    pub async fn get_named(&self, kind: NamedKind, id: i64) -> StoreResult<NamedRow> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", kind.select())))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(named_from_row!(r)),
                None => Err(StoreError::NotFound),
            }
        })
    }

    pub async fn find_named(&self, kind: NamedKind, key: &str) -> StoreResult<Option<NamedRow>> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE name_key = $1", kind.select())))
                .bind(key)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some(named_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    /// Inserts every name in one transaction; `progress(done, total)` after each.
    pub async fn insert_named(
        &self,
        kind: NamedKind,
        names: &[RefName],
        audit: AuditEntry,
        mut progress: impl FnMut(u64, u64),
    ) -> StoreResult<Vec<i64>> {
        let now = now_ms();
        let total = names.len() as u64;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                let id: i64 = sqlx::query_scalar(kind.insert())
                    .bind(name.as_str())
                    .bind(name.key())
                    .bind(now)
                    .bind(&audit.actor)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| unique_conflict(e, kind.conflicts()))?;
                ids.push(id);
                progress(i as u64 + 1, total);
            }
            let audit = if ids.len() == 1 { audit.target(ids[0]) } else { audit };
            write_audit!(&mut *tx, &audit)?;
            tx.commit().await?;
            Ok(ids)
        })
    }

    pub async fn update_named(
        &self,
        kind: NamedKind,
        id: i64,
        name: &RefName,
        audit: AuditEntry,
    ) -> StoreResult<NamedRow> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(kind.update())
                .bind(name.as_str())
                .bind(name.key())
                .bind(now_ms())
                .bind(&audit.actor)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_conflict(e, kind.conflicts()))?;
            commit_change!(tx, done, &audit.target(id));
        });
        self.get_named(kind, id).await
    }

    pub async fn delete_named(
        &self,
        kind: NamedKind,
        id: i64,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", kind.select())))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Err(StoreError::NotFound) };
            let name: String = row.try_get("name")?;
            let users: Vec<String> = sqlx::query_scalar(kind.users())
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
            if !users.is_empty() {
                let mut what = kind.label().to_string();
                if let Some(first) = what.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                return Err(in_use(format!("{what} {name:?}"), users));
            }
            sqlx::query(kind.delete()).bind(id).execute(&mut *tx).await?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            Ok(())
        })
    }

    // ---- clients ----

    async fn client_rows(
        &self,
        filter: &'static str,
        bind: Option<&str>,
        id: Option<i64>,
    ) -> StoreResult<Vec<ClientRow>> {
        with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("{CLIENT_SELECT} {filter} ORDER BY name, id")));
            if let Some(b) = bind {
                q = q.bind(b);
            }
            if let Some(i) = id {
                q = q.bind(i);
            }
            let rows = q.fetch_all(pool).await?;
            let mut dq = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT client_id, domain FROM client_domains WHERE client_id IN (SELECT id FROM clients {filter}) ORDER BY domain"
            )));
            if let Some(b) = bind {
                dq = dq.bind(b);
            }
            if let Some(i) = id {
                dq = dq.bind(i);
            }
            let domains = dq.fetch_all(pool).await?;
            let mut by_client: std::collections::HashMap<i64, Vec<String>> = Default::default();
            for d in &domains {
                by_client
                    .entry(d.try_get("client_id")?)
                    .or_default()
                    .push(d.try_get("domain")?);
            }
            rows.iter()
                .map(|r| {
                    let id: i64 = r.try_get("id")?;
                    Ok(ClientRow {
                        id,
                        name: r.try_get("name")?,
                        client_number: r.try_get("client_number")?,
                        email_domains: by_client.remove(&id).unwrap_or_default(),
                        default_workspace_id: r.try_get("default_workspace_id")?,
                        stamps: stamps!(r),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    pub async fn list_clients(&self) -> StoreResult<Vec<ClientRow>> {
        self.client_rows("", None, None).await
    }

    pub async fn get_client(&self, id: i64) -> StoreResult<ClientRow> {
        self.client_rows("WHERE id = $1", None, Some(id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// The client whose number (compared without regard to case) is `number`.
    pub async fn client_by_number(&self, number: &str) -> StoreResult<Option<ClientRow>> {
        let key = number.to_ascii_lowercase();
        Ok(self
            .client_rows("WHERE client_number_key = $1", Some(&key), None)
            .await?
            .pop())
    }

    /// The client one of whose email domains is `domain` (lower-case ASCII).
    pub async fn client_by_domain(&self, domain: &str) -> StoreResult<Option<ClientRow>> {
        Ok(self
            .client_rows(
                "WHERE id IN (SELECT client_id FROM client_domains WHERE domain = $1)",
                Some(domain),
                None,
            )
            .await?
            .pop())
    }

    /// Inserts every client in one transaction; `progress(done, total)` after each.
    pub async fn insert_clients(
        &self,
        clients: &[ClientFields],
        audit: AuditEntry,
        mut progress: impl FnMut(u64, u64),
    ) -> StoreResult<Vec<i64>> {
        let now = now_ms();
        let total = clients.len() as u64;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(clients.len());
            for (i, c) in clients.iter().enumerate() {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO clients (name, client_number, client_number_key, default_workspace_id, \
                     created_at, created_by, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $5, $6) RETURNING id",
                )
                .bind(c.name.as_str())
                .bind(c.client_number.as_ref().map(|n| n.as_str()))
                .bind(c.client_number.as_ref().map(|n| n.key()))
                .bind(c.default_workspace_id)
                .bind(now)
                .bind(&audit.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| unique_conflict(e, CLIENT_CONFLICTS))?;
                for d in &c.email_domains {
                    sqlx::query("INSERT INTO client_domains (client_id, domain) VALUES ($1, $2)")
                        .bind(id)
                        .bind(d.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| unique_conflict(e, CLIENT_CONFLICTS))?;
                }
                ids.push(id);
                progress(i as u64 + 1, total);
            }
            let audit = if ids.len() == 1 { audit.target(ids[0]) } else { audit };
            write_audit!(&mut *tx, &audit)?;
            tx.commit().await?;
            Ok(ids)
        })
    }

    pub async fn update_client(
        &self,
        id: i64,
        c: &ClientFields,
        audit: AuditEntry,
    ) -> StoreResult<ClientRow> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE clients SET name = $1, client_number = $2, client_number_key = $3, \
                 default_workspace_id = $4, updated_at = $5, updated_by = $6 WHERE id = $7",
            )
            .bind(c.name.as_str())
            .bind(c.client_number.as_ref().map(|n| n.as_str()))
            .bind(c.client_number.as_ref().map(|n| n.key()))
            .bind(c.default_workspace_id)
            .bind(now_ms())
            .bind(&audit.actor)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CLIENT_CONFLICTS))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM client_domains WHERE client_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for d in &c.email_domains {
                sqlx::query("INSERT INTO client_domains (client_id, domain) VALUES ($1, $2)")
                    .bind(id)
                    .bind(d.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_conflict(e, CLIENT_CONFLICTS))?;
            }
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
        });
        self.get_client(id).await
    }

    pub async fn delete_client(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM clients WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(name) = name else { return Err(StoreError::NotFound) };
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT 'alias ' || email_alias AS who FROM aliases WHERE client_id = $1 \
                 UNION ALL SELECT 'contact ' || email AS who FROM contacts WHERE client_id = $1",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            if !users.is_empty() {
                return Err(in_use(format!("Client {name:?}"), users));
            }
            sqlx::query("DELETE FROM client_domains WHERE client_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM clients WHERE id = $1").bind(id).execute(&mut *tx).await?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            Ok(())
        })
    }

    // ---- contacts ----

    async fn contact_rows(
        &self,
        filter: &'static str,
        key: Option<&str>,
        id: Option<i64>,
    ) -> StoreResult<Vec<ContactRow>> {
        with_pool!(self, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("{CONTACT_SELECT} {filter} ORDER BY email_key, id")));
            if let Some(k) = key {
                q = q.bind(k);
            }
            if let Some(i) = id {
                q = q.bind(i);
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(ContactRow {
                        id: r.try_get("id")?,
                        email: r.try_get("email")?,
                        name: r.try_get("name")?,
                        client_id: r.try_get("client_id")?,
                        workspace_id: r.try_get("workspace_id")?,
                        stamps: stamps!(r),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    pub async fn list_contacts(&self) -> StoreResult<Vec<ContactRow>> {
        self.contact_rows("", None, None).await
    }

    pub async fn get_contact(&self, id: i64) -> StoreResult<ContactRow> {
        self.contact_rows("WHERE id = $1", None, Some(id))
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// The contact with this address (lower-cased key).
    pub async fn contact_by_email(&self, key: &str) -> StoreResult<Option<ContactRow>> {
        Ok(self
            .contact_rows("WHERE email_key = $1", Some(key), None)
            .await?
            .pop())
    }

    pub async fn insert_contacts(
        &self,
        contacts: &[ContactFields],
        audit: AuditEntry,
        mut progress: impl FnMut(u64, u64),
    ) -> StoreResult<Vec<i64>> {
        let now = now_ms();
        let total = contacts.len() as u64;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(contacts.len());
            for (i, c) in contacts.iter().enumerate() {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO contacts (email, email_key, name, client_id, workspace_id, created_at, \
                     created_by, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $7) RETURNING id",
                )
                .bind(c.email.as_str())
                .bind(c.email.key())
                .bind(c.name.as_str())
                .bind(c.client_id)
                .bind(c.workspace_id)
                .bind(now)
                .bind(&audit.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| unique_conflict(e, CONTACT_CONFLICTS))?;
                ids.push(id);
                progress(i as u64 + 1, total);
            }
            let audit = if ids.len() == 1 { audit.target(ids[0]) } else { audit };
            write_audit!(&mut *tx, &audit)?;
            tx.commit().await?;
            Ok(ids)
        })
    }

    pub async fn update_contact(
        &self,
        id: i64,
        c: &ContactFields,
        audit: AuditEntry,
    ) -> StoreResult<ContactRow> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE contacts SET email = $1, email_key = $2, name = $3, client_id = $4, \
                 workspace_id = $5, updated_at = $6, updated_by = $7 WHERE id = $8",
            )
            .bind(c.email.as_str())
            .bind(c.email.key())
            .bind(c.name.as_str())
            .bind(c.client_id)
            .bind(c.workspace_id)
            .bind(now_ms())
            .bind(&audit.actor)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONTACT_CONFLICTS))?;
            commit_change!(tx, done, &audit.target(id));
        });
        self.get_contact(id).await
    }

    pub async fn delete_contact(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM contacts WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }
}

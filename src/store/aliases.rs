//! Alias rows, and deleting a credential only while it has no aliases (the refusal is written
//! to the exception log in the same transaction, and nothing is deleted).

use std::collections::HashMap;

use anyhow::anyhow;
use sqlx::Row;

use super::audit::{commit_change, write_audit};
use super::exceptions::write_exception;
use super::{
    AuditEntry, ExceptionEntry, Store, StoreError, StoreResult, now_ms, unique_conflict, with_pool,
};
use crate::domain::{AliasFields, RawAlias};

#[derive(Debug, Clone)]
pub struct AliasRow {
    pub id: i64,
    pub credential_id: i64,
    pub fields: AliasFields,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

const COLUMNS: &str = "id, credential_id, email_alias, is_default, workspace_id, project_type_id, \
    client_id, always_use_default_workspace, include_attachments, reply_template_id, field_mappings, \
    created_at, created_by, updated_at, updated_by";

const CONFLICTS: &[(&str, &str, &str)] = &[
    (
        "email_alias_key",
        "email_alias",
        "An alias with this address already exists (aliases are compared without regard to case).",
    ),
    (
        "aliases_one_default",
        "is_default",
        "This credential already has a default alias.",
    ),
    (
        "aliases.credential_id",
        "is_default",
        "This credential already has a default alias.",
    ),
];

macro_rules! alias_from_row {
    ($r:expr) => {{
        let r = &$r;
        let id: i64 = r.try_get("id")?;
        let mappings: String = r.try_get("field_mappings")?;
        let raw = RawAlias {
            email_alias: Some(r.try_get("email_alias")?),
            is_default: Some(r.try_get("is_default")?),
            workspace_id: Some(r.try_get("workspace_id")?),
            project_type_id: Some(r.try_get("project_type_id")?),
            client_id: Some(r.try_get("client_id")?),
            always_use_default_workspace: Some(r.try_get("always_use_default_workspace")?),
            include_attachments: Some(r.try_get("include_attachments")?),
            reply_template_id: Some(r.try_get("reply_template_id")?),
            field_mappings: Some(serde_json::from_str(&mappings).ok()),
        };
        let fields = AliasFields::parse(&raw, None)
            .map_err(|e| anyhow!("alias {id} in the database is not valid: {e}"))?;
        AliasRow {
            id,
            credential_id: r.try_get("credential_id")?,
            fields,
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
        }
    }};
}

impl Store {
    async fn alias_rows(
        &self,
        filter: &'static str,
        bind: Option<i64>,
        key: Option<&str>,
    ) -> StoreResult<Vec<AliasRow>> {
        with_pool!(self, |pool| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM aliases {filter} ORDER BY email_alias_key, id"
            )));
            if let Some(b) = bind {
                q = q.bind(b);
            }
            if let Some(k) = key {
                q = q.bind(k);
            }
            let rows = q.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(alias_from_row!(r));
            }
            Ok(out)
        })
    }

    /// Every alias, or one credential's.
    pub async fn list_aliases(&self, credential_id: Option<i64>) -> StoreResult<Vec<AliasRow>> {
        match credential_id {
            Some(c) => {
                self.alias_rows("WHERE credential_id = $1", Some(c), None)
                    .await
            }
            None => self.alias_rows("", None, None).await,
        }
    }

    pub async fn get_alias(&self, id: i64) -> StoreResult<AliasRow> {
        self.alias_rows("WHERE id = $1", Some(id), None)
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// The alias with this address (lower-cased key).
    pub async fn alias_by_key(&self, key: &str) -> StoreResult<Option<AliasRow>> {
        Ok(self
            .alias_rows("WHERE email_alias_key = $1", None, Some(key))
            .await?
            .pop())
    }

    /// Each credential's alias keys (for counts and the "no alias for the mailbox" warning).
    pub async fn alias_keys_by_credential(&self) -> StoreResult<HashMap<i64, Vec<String>>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT credential_id, email_alias_key FROM aliases ORDER BY email_alias_key",
            )
            .fetch_all(pool)
            .await?;
            let mut out: HashMap<i64, Vec<String>> = HashMap::new();
            for r in &rows {
                out.entry(r.try_get("credential_id")?)
                    .or_default()
                    .push(r.try_get("email_alias_key")?);
            }
            Ok(out)
        })
    }

    /// Every credential's id and mailbox address.
    pub async fn credential_mailboxes(&self) -> StoreResult<Vec<(i64, String)>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT id, mailbox FROM credentials ORDER BY id")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("mailbox")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    pub async fn insert_alias(
        &self,
        credential_id: i64,
        f: &AliasFields,
        audit: AuditEntry,
    ) -> StoreResult<AliasRow> {
        let now = now_ms();
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO aliases (credential_id, email_alias, email_alias_key, is_default, workspace_id, \
                 project_type_id, client_id, always_use_default_workspace, include_attachments, \
                 reply_template_id, field_mappings, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $13) RETURNING id",
            )
            .bind(credential_id)
            .bind(f.email_alias.as_str())
            .bind(f.email_alias.key())
            .bind(f.is_default)
            .bind(f.workspace_id)
            .bind(f.project_type_id)
            .bind(f.client_id)
            .bind(f.always_use_default_workspace)
            .bind(f.include_attachments)
            .bind(f.reply_template_id)
            .bind(f.field_mappings.to_json())
            .bind(now)
            .bind(&audit.actor)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONFLICTS))?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            id
        });
        self.get_alias(id).await
    }

    pub async fn update_alias(
        &self,
        id: i64,
        f: &AliasFields,
        audit: AuditEntry,
    ) -> StoreResult<AliasRow> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE aliases SET email_alias = $1, email_alias_key = $2, is_default = $3, workspace_id = $4, \
                 project_type_id = $5, client_id = $6, always_use_default_workspace = $7, \
                 include_attachments = $8, reply_template_id = $9, field_mappings = $10, \
                 updated_at = $11, updated_by = $12 WHERE id = $13",
            )
            .bind(f.email_alias.as_str())
            .bind(f.email_alias.key())
            .bind(f.is_default)
            .bind(f.workspace_id)
            .bind(f.project_type_id)
            .bind(f.client_id)
            .bind(f.always_use_default_workspace)
            .bind(f.include_attachments)
            .bind(f.reply_template_id)
            .bind(f.field_mappings.to_json())
            .bind(now_ms())
            .bind(&audit.actor)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONFLICTS))?;
            commit_change!(tx, done, &audit.target(id));
        });
        self.get_alias(id).await
    }

    pub async fn delete_alias(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM aliases WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }

    /// Deletes a credential that has no aliases. When it has some, nothing is deleted: the
    /// entry `refusal` makes from the alias addresses is written to the exception log and the
    /// addresses are returned.
    pub async fn delete_credential_without_aliases(
        &self,
        id: i64,
        audit: AuditEntry,
        refusal: impl FnOnce(&[String]) -> ExceptionEntry,
    ) -> StoreResult<Result<(), Vec<String>>> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM credentials WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
            let aliases: Vec<String> = sqlx::query_scalar(
                "SELECT email_alias FROM aliases WHERE credential_id = $1 ORDER BY email_alias_key",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            if !aliases.is_empty() {
                write_exception!(&mut *tx, &refusal(&aliases))?;
                tx.commit().await?;
                return Ok(Err(aliases));
            }
            sqlx::query("DELETE FROM credentials WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            Ok(Ok(()))
        })
    }
}

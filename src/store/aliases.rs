//! Alias rows, and deleting a credential only while it has no aliases (the refusal is written
//! to the exception log in the same transaction, and nothing is deleted).

use std::collections::HashMap;

use super::audit::write_audit;
use super::exceptions::write_exception;
use super::rows::{Columns, Conflicts, Table, from_row, not_valid};
use super::{AuditEntry, ExceptionEntry, Store, StoreError, StoreResult, with_pool};
use crate::domain::{AliasFields, FieldMappings, RawAlias};

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

const TABLE: Table = Table {
    name: "aliases",
    columns: COLUMNS,
    order: "email_alias_key, id",
    conflicts: CONFLICTS,
};

const CONFLICTS: Conflicts = &[
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

from_row!(AliasRow, |r| {
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
        field_mappings: Some(
            serde_json::from_str(&mappings)
                .ok()
                .map(FieldMappings::from_stored),
        ),
    };
    let fields = AliasFields::parse(&raw, None)
        .map_err(|e| not_valid(format!("alias {id} in the database is not valid: {e}")))?;
    Ok(AliasRow {
        id,
        credential_id: r.try_get("credential_id")?,
        fields,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
});

/// The columns of an alias's fields.
fn columns(f: &AliasFields) -> Columns {
    Columns::new()
        .set("email_alias", f.email_alias.as_str())
        .set("email_alias_key", f.email_alias.key())
        .set("is_default", f.is_default)
        .set("workspace_id", f.workspace_id)
        .set("project_type_id", f.project_type_id)
        .set("client_id", f.client_id)
        .set(
            "always_use_default_workspace",
            f.always_use_default_workspace,
        )
        .set("include_attachments", f.include_attachments)
        .set("reply_template_id", f.reply_template_id)
        .set("field_mappings", f.field_mappings.to_json())
}

impl Store {
    /// Every alias, or one credential's.
    pub async fn list_aliases(&self, credential_id: Option<i64>) -> StoreResult<Vec<AliasRow>> {
        match credential_id {
            Some(c) => {
                self.select(&TABLE, "WHERE credential_id = $1", &[c.into()])
                    .await
            }
            None => self.select(&TABLE, "", &[]).await,
        }
    }

    pub async fn get_alias(&self, id: i64) -> StoreResult<AliasRow> {
        self.by_id(&TABLE, id).await
    }

    /// The alias with this address (lower-cased key).
    pub async fn alias_by_key(&self, key: &str) -> StoreResult<Option<AliasRow>> {
        let sql = TABLE.select("WHERE email_alias_key = $1");
        self.row(sql, &[key.into()]).await
    }

    /// Each credential's alias keys (for counts and the "no alias for the mailbox" warning).
    pub async fn alias_keys_by_credential(&self) -> StoreResult<HashMap<i64, Vec<String>>> {
        let sql = "SELECT credential_id, email_alias_key FROM aliases ORDER BY email_alias_key";
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        for (credential_id, key) in self.rows::<(i64, String)>(sql, &[]).await? {
            out.entry(credential_id).or_default().push(key);
        }
        Ok(out)
    }

    /// Every credential's id and mailbox address.
    pub async fn credential_mailboxes(&self) -> StoreResult<Vec<(i64, String)>> {
        let sql = "SELECT id, mailbox FROM credentials ORDER BY id";
        self.rows(sql, &[]).await
    }

    pub async fn insert_alias(
        &self,
        credential_id: i64,
        f: &AliasFields,
        audit: AuditEntry,
    ) -> StoreResult<AliasRow> {
        let columns = columns(f).set("credential_id", credential_id);
        let columns = columns.created_by(&audit.actor);
        let id = self.insert_audited(&TABLE, columns, audit).await?;
        self.get_alias(id).await
    }

    pub async fn update_alias(
        &self,
        id: i64,
        f: &AliasFields,
        audit: AuditEntry,
    ) -> StoreResult<AliasRow> {
        let columns = columns(f).updated_by(&audit.actor);
        self.update_audited(&TABLE, id, columns, audit).await?;
        self.get_alias(id).await
    }

    pub async fn delete_alias(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        self.delete_audited(&TABLE, id, audit).await
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
            let mut tx = pool.begin_write().await?;
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

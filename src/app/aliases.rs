//! Alias use cases (SPEC §2): list, add under a credential, details, edit, delete.
//!
//! Owns the rules that need the database: the credential, workspace, project type and client
//! exist; an address is used by one alias only (case-insensitively); a credential has at most
//! one default alias. Must not know about HTTP or the CLI.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::credentials::audit_changes;
use super::{App, AppError, AppResult, StoreResultExt, iso_time};
use crate::domain::{AliasFields, RawAlias, ValidationError, ValidationErrors};
use crate::store::{AliasRow, AuditEntry};

/// An alias as clients see it (contract names of SPEC §8).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AliasView {
    pub id: i64,
    pub credential_id: i64,
    pub email_alias: String,
    pub is_default: bool,
    pub workspace_id: i64,
    pub project_type_id: i64,
    pub client_id: Option<i64>,
    pub always_use_default_workspace: bool,
    pub include_attachments: bool,
    /// `null` = No Reply.
    pub reply_template_id: Option<i64>,
    pub field_mappings: BTreeMap<String, String>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl From<&AliasRow> for AliasView {
    fn from(r: &AliasRow) -> Self {
        let f = &r.fields;
        Self {
            id: r.id,
            credential_id: r.credential_id,
            email_alias: f.email_alias.as_str().to_string(),
            is_default: f.is_default,
            workspace_id: f.workspace_id,
            project_type_id: f.project_type_id,
            client_id: f.client_id,
            always_use_default_workspace: f.always_use_default_workspace,
            include_attachments: f.include_attachments,
            reply_template_id: f.reply_template_id,
            field_mappings: f.field_mappings.as_map().clone(),
            created_at: iso_time(r.created_at),
            created_by: r.created_by.clone(),
            updated_at: iso_time(r.updated_at),
            updated_by: r.updated_by.clone(),
        }
    }
}

fn audit_fields(f: &AliasFields) -> serde_json::Value {
    json!({
        "email_alias": f.email_alias.as_str(),
        "is_default": f.is_default,
        "workspace_id": f.workspace_id,
        "project_type_id": f.project_type_id,
        "client_id": f.client_id,
        "always_use_default_workspace": f.always_use_default_workspace,
        "include_attachments": f.include_attachments,
        "reply_template_id": f.reply_template_id,
        "field_mappings": f.field_mappings.as_map(),
    })
}

impl App {
    pub async fn list_aliases(&self, credential_id: Option<i64>) -> AppResult<Vec<AliasView>> {
        if let Some(c) = credential_id {
            self.credential_row(c).await?;
        }
        let rows = self
            .store
            .list_aliases(credential_id)
            .await
            .app_err("alias")?;
        Ok(rows.iter().map(AliasView::from).collect())
    }

    pub async fn get_alias(&self, id: i64) -> AppResult<AliasView> {
        self.alias_row(id).await.map(|r| AliasView::from(&r))
    }

    async fn alias_row(&self, id: i64) -> AppResult<AliasRow> {
        self.store.get_alias(id).await.app_err("alias")
    }

    /// Every rule that needs the database; `own_id` is the alias being edited.
    async fn check_alias(
        &self,
        credential_id: i64,
        f: &AliasFields,
        own_id: Option<i64>,
    ) -> AppResult<()> {
        let mut errors = self
            .check_references(
                Some(("workspace_id", f.workspace_id)),
                Some(("project_type_id", f.project_type_id)),
                f.client_id.map(|c| ("client_id", c)),
            )
            .await?;
        if let Some(t) = f.reply_template_id {
            errors.push(ValidationError::new(
                "reply_template_id",
                "not_found",
                format!(
                    "Reply Template {t} does not exist: no reply templates are defined yet, so use null (No Reply)."
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(ValidationErrors(errors).into());
        }
        if let Some(other) = self
            .store
            .alias_by_key(f.email_alias.key())
            .await
            .app_err("alias")?
            && Some(other.id) != own_id
        {
            let owner = self
                .credential_row(other.credential_id)
                .await
                .map(|c| format!("{:?}", c.fields.configuration_name.as_str()))
                .unwrap_or_else(|_| other.credential_id.to_string());
            return Err(AppError::Conflict {
                field: Some("email_alias"),
                message: format!(
                    "The alias {} already exists (id {}, credential {owner}); an address can be the alias of one credential only, compared without regard to case.",
                    other.fields.email_alias, other.id
                ),
            });
        }
        if f.is_default {
            let siblings = self
                .store
                .list_aliases(Some(credential_id))
                .await
                .app_err("alias")?;
            if let Some(d) = siblings
                .iter()
                .find(|a| a.fields.is_default && Some(a.id) != own_id)
            {
                return Err(AppError::Conflict {
                    field: Some("is_default"),
                    message: format!(
                        "This credential already has a default alias: {} (id {}). A credential has at most one; unset it first.",
                        d.fields.email_alias, d.id
                    ),
                });
            }
        }
        Ok(())
    }

    pub async fn create_alias(
        &self,
        actor: &str,
        credential_id: i64,
        raw: &RawAlias,
    ) -> AppResult<AliasView> {
        let credential = self.credential_row(credential_id).await?;
        let f = AliasFields::parse(raw, self.default_project_type_id().await?)?;
        self.check_alias(credential_id, &f, None).await?;
        let audit = AuditEntry::new(actor, "alias.create", "alias")
            .summary(format!(
                "created alias {} on credential {:?}",
                f.email_alias,
                credential.fields.configuration_name.as_str()
            ))
            .details(audit_fields(&f));
        let row = self
            .store
            .insert_alias(credential_id, &f, audit)
            .await
            .app_err("alias")?;
        Ok(AliasView::from(&row))
    }

    pub async fn update_alias(&self, actor: &str, id: i64, raw: &RawAlias) -> AppResult<AliasView> {
        let current = self.alias_row(id).await?;
        let f = current.fields.apply(raw)?;
        self.check_alias(current.credential_id, &f, Some(id))
            .await?;
        let changes = audit_changes(audit_fields(&current.fields), audit_fields(&f));
        let audit = AuditEntry::new(actor, "alias.update", "alias")
            .summary(format!("edited alias {}", f.email_alias))
            .details(changes);
        let row = self
            .store
            .update_alias(id, &f, audit)
            .await
            .app_err("alias")?;
        Ok(AliasView::from(&row))
    }

    pub async fn delete_alias(&self, actor: &str, id: i64) -> AppResult<()> {
        let current = self.alias_row(id).await?;
        let audit = AuditEntry::new(actor, "alias.delete", "alias")
            .summary(format!("deleted alias {}", current.fields.email_alias))
            .details(audit_fields(&current.fields));
        self.store.delete_alias(id, audit).await.app_err("alias")
    }
}

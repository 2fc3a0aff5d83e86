//! Credential use cases: add, list, details, edit, delete, change password, and opening the
//! stored password for the one caller that needs it (the IMAP login).

use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult, StoreResultExt, iso_time};
use crate::domain::{
    CredentialFields, CredentialPatch, HealthState, NewCredential, PasswordChange, RawCredential,
    Secret,
};
use crate::store::{AuditEntry, CredentialRow, ExceptionEntry, password_ad};
use crate::vault::OpenError;

/// A credential as clients see it: every field but the password.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    pub id: i64,
    pub mailbox: String,
    pub username: Option<String>,
    pub login_name: String,
    pub host: String,
    pub port: u16,
    pub use_secure_connection: bool,
    /// `tls`, `starttls` or `none`.
    pub security: &'static str,
    pub configuration_name: String,
    pub description: String,
    pub ca_bundle: Option<String>,
    pub pinned_sha256: Option<String>,
    pub enabled: bool,
    pub has_password: bool,
    /// `password` or `oauth2`.
    pub auth_method: &'static str,
    pub oauth_app_id: Option<i64>,
    /// An OAuth2 sign-in is stored (never the token itself).
    pub has_refresh_token: bool,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    pub last_test: Option<LastTestView>,
    pub health: HealthView,
    pub aliases_count: i64,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LastTestView {
    pub at: String,
    pub ok: bool,
    pub category: String,
    pub message: String,
}

impl LastTestView {
    /// The outcome in a few words for a page ("Wrong username or password"), never the code.
    pub fn title(&self) -> &'static str {
        match crate::imap::Category::from_code(&self.category) {
            Some(c) => c.title(),
            None if self.ok => "Connected",
            None => "Failed",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `idle`, `healthy`, `failing`, `paused_auth` or `sign_in_again`.
    #[schema(value_type = String)]
    pub state: HealthState,
    pub last_success_at: Option<String>,
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    /// Messages above the checkpoint when the last poll started (0 once it finished).
    pub backlog: Option<i64>,
}

impl CredentialView {
    fn from_row(row: &CredentialRow) -> Self {
        let f = &row.fields;
        Self {
            id: row.id,
            mailbox: f.mailbox.as_str().to_string(),
            username: f.username.as_ref().map(|u| u.as_str().to_string()),
            login_name: f.login_name().to_string(),
            host: f.host.as_str().to_string(),
            port: f.port.get(),
            use_secure_connection: f.security.is_secure(),
            security: f.security.as_str(),
            configuration_name: f.configuration_name.as_str().to_string(),
            description: f.description.as_str().to_string(),
            ca_bundle: f.ca_bundle.as_ref().map(|c| c.as_str().to_string()),
            pinned_sha256: f.pinned_sha256.as_ref().map(|p| p.as_str().to_string()),
            enabled: f.enabled,
            has_password: !row.sealed_password.ciphertext.is_empty(),
            auth_method: f.auth_method.as_str(),
            oauth_app_id: f.oauth_app_id,
            has_refresh_token: row.sealed_refresh_token.is_some(),
            created_at: iso_time(row.created_at),
            created_by: row.created_by.clone(),
            updated_at: iso_time(row.updated_at),
            updated_by: row.updated_by.clone(),
            last_test: row.last_test.as_ref().map(|t| LastTestView {
                at: iso_time(t.at),
                ok: t.ok,
                category: t.category.clone(),
                message: t.message.clone(),
            }),
            health: HealthView {
                state: row.health.state,
                last_success_at: row.health.last_success_at.map(iso_time),
                failing_since: row.health.failing_since.map(iso_time),
                last_error: row.health.last_error.clone(),
                next_attempt_at: row.health.next_attempt_at.map(iso_time),
                backlog: row.health.backlog,
            },
            aliases_count: 0,
            warnings: f.warnings(),
        }
    }
}

/// The non-secret values of a credential, for audit details.
fn audit_fields(f: &CredentialFields) -> serde_json::Value {
    json!({
        "mailbox": f.mailbox.as_str(),
        "username": f.username.as_ref().map(|u| u.as_str()),
        "host": f.host.as_str(),
        "port": f.port.get(),
        "security": f.security.as_str(),
        "configuration_name": f.configuration_name.as_str(),
        "description": f.description.as_str(),
        "ca_bundle": f.ca_bundle.is_some(),
        "pinned_sha256": f.pinned_sha256.as_ref().map(|p| p.as_str()),
        "enabled": f.enabled,
        "auth_method": f.auth_method.as_str(),
        "oauth_app_id": f.oauth_app_id,
    })
}

/// The fields whose values differ between two sets of audit details, as `{field: {from, to}}`.
pub(super) fn audit_changes(
    before: serde_json::Value,
    after: serde_json::Value,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let (Some(a), Some(b)) = (before.as_object(), after.as_object()) {
        for (k, va) in a {
            let vb = &b[k];
            if va != vb {
                out.insert(k.clone(), json!({"from": va, "to": vb}));
            }
        }
    }
    serde_json::Value::Object(out)
}

/// The audit entry of a created or deleted credential: a summary naming it, and its values.
fn audit_entry(actor: &str, action: &'static str, done: &str, f: &CredentialFields) -> AuditEntry {
    let name = f.configuration_name.as_str();
    AuditEntry::new(actor, action, "credential")
        .summary(format!("{done} credential {name:?} for {}", f.mailbox))
        .details(audit_fields(f))
}

impl App {
    pub async fn create_credential(
        &self,
        actor: &str,
        raw: &RawCredential,
    ) -> AppResult<CredentialView> {
        let new = NewCredential::parse(raw)?;
        self.check_oauth_app(&new.fields).await?;
        let audit = audit_entry(actor, "credential.create", "created", &new.fields);
        self.refresh_keys()?;
        let sealer = self.sealer();
        let oauth2 = new.fields.auth_method == crate::domain::AuthMethod::OAuth2;
        let seal = |id| {
            if oauth2 {
                crate::vault::Sealed {
                    key_id: String::new(),
                    nonce: Vec::new(),
                    ciphertext: Vec::new(),
                }
            } else {
                sealer(id, &new.password)
            }
        };
        let row = self
            .store
            .insert_credential(&new.fields, seal, audit)
            .await
            .app_err("credential")?;
        tracing::info!(credential = row.id, actor, "credential created");
        let mut view = CredentialView::from_row(&row);
        self.add_alias_info(std::slice::from_mut(&mut view)).await?;
        Ok(view)
    }

    /// Sets the alias count, and warns when no alias equals the credential's own mailbox.
    async fn add_alias_info(&self, views: &mut [CredentialView]) -> AppResult<()> {
        let keys = self
            .store
            .alias_keys_by_credential()
            .await
            .app_err("alias")?;
        for v in views {
            let own = keys.get(&v.id).map(Vec::as_slice).unwrap_or(&[]);
            v.aliases_count = own.len() as i64;
            let mailbox_key = v.mailbox.to_lowercase();
            if !own.contains(&mailbox_key) {
                v.warnings.push(format!(
                    "No alias equals this credential's mailbox {}: add one so that mail sent to the mailbox address itself is routed.",
                    v.mailbox
                ));
            }
        }
        Ok(())
    }

    pub async fn list_credentials(&self) -> AppResult<Vec<CredentialView>> {
        let rows = self.store.list_credentials().await.app_err("credential")?;
        let mut views: Vec<CredentialView> = rows.iter().map(CredentialView::from_row).collect();
        self.add_alias_info(&mut views).await?;
        Ok(views)
    }

    pub async fn get_credential(&self, id: i64) -> AppResult<CredentialView> {
        let mut view = self
            .credential_row(id)
            .await
            .map(|r| CredentialView::from_row(&r))?;
        self.add_alias_info(std::slice::from_mut(&mut view)).await?;
        Ok(view)
    }

    pub(crate) async fn credential_row(&self, id: i64) -> AppResult<CredentialRow> {
        self.store.get_credential(id).await.app_err("credential")
    }

    /// Edits the fields; the result is checked whole. A change of where the password goes
    /// (host, port, security, login name, trust) needs the password in the same edit.
    pub async fn update_credential(
        &self,
        actor: &str,
        id: i64,
        raw: RawCredential,
    ) -> AppResult<CredentialView> {
        let current = self.credential_row(id).await?;
        let edit = CredentialPatch::new(raw).apply(&current.fields)?;
        let fields = edit.fields;
        self.check_oauth_app(&fields).await?;
        let mut changes = audit_changes(audit_fields(&current.fields), audit_fields(&fields));
        if edit.password.is_some() {
            changes["password"] = json!("replaced");
        }
        if edit.sign_in_again {
            changes["oauth_sign_in"] = json!("cleared: sign in again");
        }
        let audit = AuditEntry::new(actor, "credential.update", "credential")
            .summary(format!(
                "edited credential {:?}",
                fields.configuration_name.as_str()
            ))
            .details(changes);
        let sealed = match &edit.password {
            Some(p) => Some(self.seal_password(id, p)?),
            // Now signing in through an OAuth app: the password is forgotten.
            None if fields.auth_method == crate::domain::AuthMethod::OAuth2
                && !current.sealed_password.ciphertext.is_empty() =>
            {
                Some(crate::vault::Sealed {
                    key_id: String::new(),
                    nonce: Vec::new(),
                    ciphertext: Vec::new(),
                })
            }
            None => None,
        };
        self.store
            .update_credential(id, &fields, sealed.as_ref(), edit.sign_in_again, audit)
            .await
            .app_err("credential")?;
        self.resume_processing(id).await?;
        let row = self.credential_row(id).await?;
        let mut view = CredentialView::from_row(&row);
        self.add_alias_info(std::slice::from_mut(&mut view)).await?;
        Ok(view)
    }

    pub async fn delete_credential(&self, actor: &str, id: i64) -> AppResult<()> {
        let current = self.credential_row(id).await?;
        let audit = audit_entry(actor, "credential.delete", "deleted", &current.fields);
        // Refused while aliases belong to it: nothing deleted, the refusal in the exception log.
        let name = current.fields.configuration_name.as_str().to_string();
        let refusal_message = |aliases: &[String]| {
            format!(
                "Credential {name:?} cannot be deleted while aliases belong to it: {}. Delete these aliases (or move their addresses to another credential) first; nothing was deleted.",
                aliases.join(", ")
            )
        };
        let outcome = self
            .store
            .delete_credential_without_aliases(id, audit, |aliases| ExceptionEntry {
                credential_id: Some(id),
                alias_id: None,
                source: "credential.delete",
                message: refusal_message(aliases),
                details: json!({"aliases": aliases, "actor": actor, "configuration_name": &name}),
            })
            .await
            .app_err("credential")?;
        outcome.map_err(|aliases| AppError::Conflict {
            field: None,
            message: refusal_message(&aliases),
        })
    }

    /// An `oauth2` credential's app must exist.
    async fn check_oauth_app(&self, f: &CredentialFields) -> AppResult<()> {
        if let Some(app_id) = f.oauth_app_id
            && let Err(AppError::NotFound(_)) = self.oauth_app_row(app_id).await
        {
            return Err(crate::domain::ValidationError::new(
                "oauth_app_id",
                "not_found",
                format!("OAuth app {app_id} does not exist: add it first (GET /api/v1/oauth-apps lists them)."),
            )
            .into());
        }
        Ok(())
    }

    /// Change Password: both values required and equal, else nothing changes.
    pub async fn change_password(
        &self,
        actor: &str,
        id: i64,
        new_password: Option<&Secret>,
        confirm_password: Option<&Secret>,
    ) -> AppResult<CredentialView> {
        let change = PasswordChange::parse(new_password, confirm_password)?;
        let current = self.credential_row(id).await?;
        let sealed = self.seal_password(id, &change.password)?;
        let audit =
            AuditEntry::new(actor, "credential.password_change", "credential").summary(format!(
                "changed the password of credential {:?}",
                current.fields.configuration_name.as_str()
            ));
        self.store
            .set_credential_password(id, &sealed, audit)
            .await
            .app_err("credential")?;
        self.resume_processing(id).await?;
        self.get_credential(id).await
    }

    /// The stored password in clear, for the IMAP login only. If the key that sealed it is not
    /// loaded (rotated by another process), the key file is read again once.
    pub async fn credential_password(&self, id: i64) -> AppResult<Secret> {
        let row = self.credential_row(id).await?;
        let ad = password_ad(id);
        let first = self
            .keys
            .read()
            .expect("key ring lock")
            .open(&row.sealed_password, &ad);
        let opened = match first {
            Err(OpenError::MissingKey(_)) => {
                self.refresh_keys()?;
                self.keys
                    .read()
                    .expect("key ring lock")
                    .open(&row.sealed_password, &ad)
            }
            other => other,
        };
        opened.map_err(|e| {
            AppError::Other(anyhow::anyhow!(
                "the stored password of credential {id} cannot be opened: {e}"
            ))
        })
    }
}

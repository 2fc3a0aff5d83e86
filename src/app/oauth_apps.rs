//! OAuth app use cases: add, list, details, edit, delete; the client secret sealed to the app's
//! row (`oauth_app:{id}:client_secret`) and opened only for a token request.
//!
//! Must not know HTTP or clap; never puts the secret in a view, an audit entry or an error.

use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult, StoreResultExt, iso_time};
use crate::domain::{
    Flow, HealthState, OAuthAppEdit, OAuthAppFields, Provider, RawOAuthApp, Secret,
};
use crate::oauth::OAuthClient;
use crate::store::{AuditEntry, OAuthAppRow, client_secret_ad};
use crate::vault::OpenError;

/// An OAuth app as clients see it: every field but the client secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OAuthAppView {
    pub id: i64,
    pub name: String,
    pub provider: &'static str,
    pub flow: &'static str,
    pub client_id: String,
    pub has_client_secret: bool,
    pub tenant: Option<String>,
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub scopes: String,
    /// Extra parameters sent on the authorization URL (Google: `access_type=offline`).
    pub authorize_params: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl OAuthAppView {
    fn from_row(r: &OAuthAppRow) -> Self {
        let f = &r.fields;
        Self {
            id: r.id,
            name: f.name.clone(),
            provider: f.provider.as_str(),
            flow: f.flow.as_str(),
            client_id: f.client_id.clone(),
            has_client_secret: r.sealed_secret.is_some(),
            tenant: f.tenant.clone(),
            authorize_url: f.authorize_url.clone(),
            token_url: f.token_url.clone(),
            scopes: f.scopes.clone(),
            authorize_params: f
                .extra_authorize_params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            created_at: iso_time(r.created_at),
            created_by: r.created_by.clone(),
            updated_at: iso_time(r.updated_at),
            updated_by: r.updated_by.clone(),
        }
    }
}

/// What to do at the provider, in a few steps (shown on the admin page).
pub fn checklist(provider: Provider, flow: Flow, redirect_uri: &str) -> Vec<String> {
    match (provider, flow) {
        (Provider::Microsoft, Flow::AuthorizationCode) => vec![
            "In Microsoft Entra admin center, App registrations: register a single-tenant app.".into(),
            format!("Authentication: add the platform Web with the redirect URI {redirect_uri}."),
            "API permissions: add Office 365 Exchange Online (or Microsoft Graph) IMAP.AccessAsUser.All and offline_access (delegated), then grant admin consent.".into(),
            "Certificates & secrets: create a client secret and paste it here (note its expiry: AADSTS7000222 when it runs out).".into(),
            "Enter the Directory (tenant) ID and the Application (client) ID.".into(),
        ],
        (Provider::Microsoft, Flow::ClientCredentials) => vec![
            "Register a single-tenant app; API permissions: Office 365 Exchange Online IMAP.AccessAsApp (application), then grant admin consent.".into(),
            "In Exchange Online PowerShell: New-ServicePrincipal for the app, then Add-MailboxPermission -User <service principal id> -AccessRights FullAccess on each mailbox.".into(),
            "Create a client secret and paste it here with the tenant and client IDs.".into(),
        ],
        (Provider::Google, _) => vec![
            "In Google Cloud console: APIs & Services, OAuth consent screen (Internal for Workspace), add the scope https://mail.google.com/.".into(),
            format!("Credentials: create an OAuth client ID of type Web application with the redirect URI {redirect_uri}."),
            "Paste the client ID and client secret here; Mailroom asks for offline access so Google issues a refresh token.".into(),
        ],
        (Provider::Custom, Flow::AuthorizationCode) => vec![
            format!("Register a client at the provider with the redirect URI {redirect_uri}."),
            "Enter its authorize and token URLs (https) and the scopes that allow IMAP.".into(),
        ],
        (Provider::Custom, Flow::ClientCredentials) => vec![
            "Register a confidential client at the provider that may get tokens for the mailbox.".into(),
            "Enter its token URL (https), client ID, client secret and scopes.".into(),
        ],
    }
}

fn audit_fields(f: &OAuthAppFields) -> serde_json::Value {
    json!({
        "name": f.name,
        "provider": f.provider.as_str(),
        "flow": f.flow.as_str(),
        "client_id": f.client_id,
        "tenant": f.tenant,
        "authorize_url": f.authorize_url,
        "token_url": f.token_url,
        "scopes": f.scopes,
    })
}

impl App {
    pub async fn create_oauth_app(
        &self,
        actor: &str,
        raw: &RawOAuthApp,
    ) -> AppResult<OAuthAppView> {
        let new = OAuthAppEdit::new(raw)?;
        let audit = AuditEntry::new(actor, "oauth_app.create", "oauth_app")
            .summary(format!("created OAuth app {:?}", new.fields.name))
            .details(audit_fields(&new.fields));
        self.refresh_keys()?;
        let keys = self.keys.clone();
        let seal = |id| {
            let secret = new.client_secret.as_ref()?;
            Some(
                keys.read()
                    .expect("key ring lock")
                    .seal(secret, &client_secret_ad(id)),
            )
        };
        let row = self
            .store
            .insert_oauth_app(&new.fields, seal, audit)
            .await
            .app_err("OAuth app")?;
        Ok(OAuthAppView::from_row(&row))
    }

    pub async fn list_oauth_apps(&self) -> AppResult<Vec<OAuthAppView>> {
        let rows = self.store.list_oauth_apps().await.app_err("OAuth app")?;
        Ok(rows.iter().map(OAuthAppView::from_row).collect())
    }

    pub async fn get_oauth_app(&self, id: i64) -> AppResult<OAuthAppView> {
        Ok(OAuthAppView::from_row(&self.oauth_app_row(id).await?))
    }

    pub(crate) async fn oauth_app_row(&self, id: i64) -> AppResult<OAuthAppRow> {
        self.store.get_oauth_app(id).await.app_err("OAuth app")
    }

    /// Edits an app. A change of provider, client, tenant, token URL or flow signs every
    /// credential using it out (their refresh tokens were issued for the old settings).
    pub async fn update_oauth_app(
        &self,
        actor: &str,
        id: i64,
        raw: &RawOAuthApp,
    ) -> AppResult<OAuthAppView> {
        let current = self.oauth_app_row(id).await?;
        let edit = OAuthAppEdit::patch(&current.fields, current.sealed_secret.is_some(), raw)?;
        let sign_out = !edit.fields.same_issuer(&current.fields);
        let mut details = audit_fields(&edit.fields);
        if edit.client_secret.is_some() {
            details["client_secret"] = json!("replaced");
        }
        details["signed_out_credentials"] = json!(sign_out);
        let audit = AuditEntry::new(actor, "oauth_app.update", "oauth_app")
            .summary(format!("edited OAuth app {:?}", edit.fields.name))
            .details(details);
        self.refresh_keys()?;
        let sealed = edit.client_secret.as_ref().map(|s| {
            self.keys
                .read()
                .expect("key ring lock")
                .seal(s, &client_secret_ad(id))
        });
        let row = self
            .store
            .update_oauth_app(id, &edit.fields, sealed.as_ref(), sign_out, audit)
            .await
            .app_err("OAuth app")?;
        self.forget_token_sources();
        // A fixed app (a new client secret, consent granted) is tried again by the credentials
        // it had sent to "sign in again".
        let credentials = self.store.list_credentials().await.app_err("credential")?;
        for c in credentials {
            if c.fields.oauth_app_id == Some(id) && c.health.state == HealthState::SignInAgain {
                self.resume_processing(c.id).await?;
            }
        }
        Ok(OAuthAppView::from_row(&row))
    }

    pub async fn delete_oauth_app(&self, actor: &str, id: i64) -> AppResult<()> {
        let current = self.oauth_app_row(id).await?;
        let audit = AuditEntry::new(actor, "oauth_app.delete", "oauth_app")
            .summary(format!("deleted OAuth app {:?}", current.fields.name))
            .details(audit_fields(&current.fields));
        self.store
            .delete_oauth_app(id, audit)
            .await
            .app_err("OAuth app")?;
        self.forget_token_sources();
        Ok(())
    }

    /// The app as the token client needs it, the client secret opened.
    pub(crate) fn oauth_client(&self, row: &OAuthAppRow) -> AppResult<OAuthClient> {
        let client_secret = match &row.sealed_secret {
            None => None,
            Some(sealed) => Some(
                self.open_sealed(sealed, &client_secret_ad(row.id))
                    .map_err(|e| {
                        AppError::Other(anyhow::anyhow!(
                            "the client secret of OAuth app {:?} cannot be opened: {e}",
                            row.fields.name
                        ))
                    })?,
            ),
        };
        Ok(OAuthClient {
            token_url: row.fields.token_url.clone(),
            client_id: row.fields.client_id.clone(),
            client_secret,
        })
    }

    /// Opens a sealed secret; reads the key file again once if its key is not loaded.
    pub(crate) fn open_sealed(
        &self,
        sealed: &crate::vault::Sealed,
        ad: &str,
    ) -> Result<Secret, OpenError> {
        let first = self.keys.read().expect("key ring lock").open(sealed, ad);
        match first {
            Err(OpenError::MissingKey(_)) => {
                let _ = self.refresh_keys();
                self.keys.read().expect("key ring lock").open(sealed, ad)
            }
            other => other,
        }
    }
}

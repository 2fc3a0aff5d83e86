//! OAuth2 tokens of credentials: an `imap::TokenSource` per credential over `oauth::TokenClient`
//! (the access token in memory only, refreshed ahead of expiry and once more when the server
//! rejects it; a rotated refresh token sealed and stored before the access token is used; a
//! refresh token refused as spent is tried once more as stored, when another process rotated
//! it meanwhile), the client-credentials source of unsaved values for Test Connection, the
//! words for a token the mail server refuses, and the "sign in again" state for failures a
//! person must fix (health, exception log, metric). The sign-in itself is `oauth_sign_in`.
//!
//! Must not know HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult};
use crate::domain::{AuthMethod, Flow, HealthState, Secret, ValidationError};
use crate::imap::{
    AccessToken, Category, ConnectError, Credentials, Login, MailSession, MailTarget, TokenFailure,
    TokenFuture, TokenSource,
};
use crate::oauth::{OAuthClient, TokenClient, TokenError, Tokens};
use crate::store::{CredentialRow, ExceptionEntry, Health, Store, now_ms, refresh_token_ad};
use crate::vault::KeyRing;

/// A cached access token is renewed when it has less than this left.
const RENEW_AHEAD: Duration = Duration::from_secs(120);
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Test Connection on oauth2 values that may not use the stored sign-in (422).
pub(crate) fn sign_in_required(message: &str) -> AppError {
    ValidationError::new("oauth_app_id", "sign_in_required", message).into()
}

/// The App's OAuth2 state: the token client and a token source per credential.
#[derive(Default)]
pub(crate) struct OAuthState {
    client: OnceLock<TokenClient>,
    sources: Mutex<HashMap<i64, Arc<CredentialTokens>>>,
}

/// Where to send the person who signs in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignInStart {
    pub authorization_url: String,
}

/// The token source of one credential.
pub(crate) struct CredentialTokens {
    credential_id: i64,
    /// The credential's and the app's `updated_at`: a change makes a new source.
    version: (i64, i64),
    flow: Flow,
    scopes: String,
    app: OAuthClient,
    client: TokenClient,
    store: Store,
    keys: Arc<RwLock<KeyRing>>,
    /// The access token and when it must be renewed. Held across a refresh: one at a time.
    cached: tokio::sync::Mutex<Option<(Secret, Option<std::time::SystemTime>)>>,
    /// The last failure, for the App to put into the credential's health.
    failure: Mutex<Option<TokenError>>,
}

/// A granted access token, with the probe's line about it.
fn granted(tokens: Tokens, flow: Flow) -> AccessToken {
    let grant = match flow {
        Flow::ClientCredentials => "client_credentials",
        Flow::AuthorizationCode => "refresh_token",
    };
    AccessToken {
        detail: format!(
            "{grant} grant; valid for {} s",
            tokens.expires_in.map_or(0, |d| d.as_secs())
        ),
        token: tokens.access_token,
    }
}

/// The token source of unsaved oauth2 values (Test Connection on a form): the OAuth app's
/// client-credentials grant, nothing cached, stored or recorded in any credential's health.
struct AppOnlyTokens {
    app: OAuthClient,
    client: TokenClient,
    scopes: String,
}

impl TokenSource for AppOnlyTokens {
    fn access_token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let tokens = self
                .client
                .client_credentials(&self.app, &self.scopes)
                .await
                .map_err(|e| failure_of(&e))?;
            Ok(granted(tokens, Flow::ClientCredentials))
        })
    }
}

fn failure_of(e: &TokenError) -> TokenFailure {
    TokenFailure {
        message: e.message.clone(),
        hint: Some(e.hint.clone()),
        needs_person: e.needs_person(),
    }
}

impl CredentialTokens {
    async fn fetch(&self) -> Result<AccessToken, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref()
            && renew_at.is_none_or(|at| std::time::SystemTime::now() < at)
        {
            return Ok(AccessToken {
                token: token.clone(),
                detail: "cached access token".into(),
            });
        }
        let tokens = match self.flow {
            Flow::ClientCredentials => {
                self.client
                    .client_credentials(&self.app, &self.scopes)
                    .await?
            }
            Flow::AuthorizationCode => {
                let mut refresh = self.refresh_token().await?;
                let t = match self.client.refresh(&self.app, &refresh, &self.scopes).await {
                    // Another node (or another source here) may have rotated it meanwhile:
                    // the stored one then differs from the one presented, and is tried once.
                    Err(e) if e.needs_person() => {
                        let stored = self.refresh_token().await;
                        let Some(stored) = stored.ok().filter(|s| s != &refresh) else {
                            return Err(e);
                        };
                        refresh = stored;
                        self.client
                            .refresh(&self.app, &refresh, &self.scopes)
                            .await?
                    }
                    other => other?,
                };
                if let Some(rotated) = &t.refresh_token
                    && rotated != &refresh
                {
                    self.store_refresh_token(rotated).await?;
                }
                t
            }
        };
        let renew_at = tokens
            .expires_in
            .map(|d| tokens.received_at + d.saturating_sub(RENEW_AHEAD.min(d / 2)));
        *cached = Some((tokens.access_token.clone(), renew_at));
        Ok(granted(tokens, self.flow))
    }

    async fn refresh_token(&self) -> Result<Secret, TokenError> {
        let person = |message: &str| {
            TokenError {
            kind: crate::oauth::TokenErrorKind::SignInAgain,
            code: None,
            aadsts: None,
            status: None,
            message: message.to_string(),
            hint: "Use Sign in on the credential's page (or POST /api/v1/credentials/{id}/oauth/authorize).".into(),
        }
        };
        let row = self
            .store
            .get_credential(self.credential_id)
            .await
            .map_err(|_| person("The credential could not be read."))?;
        let Some(sealed) = row.sealed_refresh_token else {
            return Err(person(
                "No one has signed in for this credential yet (no refresh token is stored).",
            ));
        };
        let ad = refresh_token_ad(self.credential_id);
        let opened = self.keys.read().expect("key ring lock").open(&sealed, &ad);
        opened.map_err(|e| person(&format!("The stored refresh token cannot be opened: {e}.")))
    }

    /// Seals and stores a rotated refresh token before the access token is used: the old one
    /// no longer works at the provider.
    async fn store_refresh_token(&self, token: &Secret) -> Result<(), TokenError> {
        let _ = self
            .keys
            .write()
            .expect("key ring lock")
            .reload_if_changed();
        let sealed = self
            .keys
            .read()
            .expect("key ring lock")
            .seal(token, &refresh_token_ad(self.credential_id));
        self.store
            .set_refresh_token(self.credential_id, Some(&sealed))
            .await
            .map_err(|e| TokenError {
                kind: crate::oauth::TokenErrorKind::Temporary,
                code: None,
                aadsts: None,
                status: None,
                message: format!(
                    "The provider rotated the refresh token, but storing it failed: {e}."
                ),
                hint: "Sign in again if the next poll fails.".into(),
            })
    }

    async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    fn take_failure(&self) -> Option<TokenError> {
        self.failure.lock().expect("failure lock").take()
    }
}

impl TokenSource for CredentialTokens {
    fn access_token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            self.fetch().await.map_err(|e| {
                let f = failure_of(&e);
                *self.failure.lock().expect("failure lock") = Some(e);
                f
            })
        })
    }
}

impl App {
    pub(super) fn token_client(&self) -> AppResult<TokenClient> {
        if let Some(c) = self.oauth.client.get() {
            return Ok(c.clone());
        }
        let c = TokenClient::new(TOKEN_TIMEOUT)
            .map_err(|e| AppError::Other(anyhow::anyhow!(e.sentence())))?;
        Ok(self.oauth.client.get_or_init(|| c).clone())
    }

    /// Drops every cached token source (an OAuth app changed).
    pub(crate) fn forget_token_sources(&self) {
        self.oauth.sources.lock().expect("sources lock").clear();
    }

    /// Drops the credential's token source (a new sign-in).
    pub(super) fn forget_token_source(&self, id: i64) {
        self.oauth.sources.lock().expect("sources lock").remove(&id);
    }

    /// The token source of an `oauth2` credential, kept while neither it nor its app changes.
    async fn token_source(&self, row: &CredentialRow) -> AppResult<Arc<CredentialTokens>> {
        let app_id = row.fields.oauth_app_id.ok_or_else(|| {
            AppError::Other(anyhow::anyhow!("credential {} names no OAuth app", row.id))
        })?;
        let app = self.oauth_app_row(app_id).await?;
        let version = (row.updated_at, app.updated_at);
        let known = self
            .oauth
            .sources
            .lock()
            .expect("sources lock")
            .get(&row.id)
            .cloned();
        if let Some(s) = known
            && s.version == version
        {
            return Ok(s);
        }
        let source = Arc::new(CredentialTokens {
            credential_id: row.id,
            version,
            flow: app.fields.flow,
            scopes: app.fields.scopes.clone(),
            app: self.oauth_client(&app)?,
            client: self.token_client()?,
            store: self.store.clone(),
            keys: self.keys.clone(),
            cached: Default::default(),
            failure: Default::default(),
        });
        self.oauth
            .sources
            .lock()
            .expect("sources lock")
            .insert(row.id, source.clone());
        Ok(source)
    }

    /// What processing logs in with: the stored password, or the credential's token source.
    pub(crate) async fn mail_credentials(&self, row: &CredentialRow) -> AppResult<Credentials> {
        match row.fields.auth_method {
            AuthMethod::Password => {
                Ok(Login::Password(self.credential_password(row.id).await?).into())
            }
            AuthMethod::OAuth2 => {
                let source: Arc<dyn TokenSource> = self.token_source(row).await?;
                Ok(Credentials::TokenSource(source))
            }
        }
    }

    /// Connects for processing; a token the server rejects is renewed and tried once more.
    pub(crate) async fn connect_mail(
        &self,
        target: &MailTarget,
        row: &CredentialRow,
        creds: Credentials,
    ) -> Result<MailSession, ConnectError> {
        let rejected = |e: &ConnectError| {
            e.category == Category::AuthTokenRejected
                && row.fields.auth_method == AuthMethod::OAuth2
        };
        match MailSession::connect(target, &creds).await {
            Err(e) if rejected(&e) => {
                if let Some(s) = self.known_source(row.id) {
                    s.invalidate().await;
                }
                match MailSession::connect(target, &creds).await {
                    Err(mut e) if rejected(&e) => {
                        if let Some(advice) = self.token_rejection_advice(row).await {
                            e.message = format!("{} {advice}", e.message);
                        }
                        Err(e)
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    fn known_source(&self, id: i64) -> Option<Arc<CredentialTokens>> {
        let sources = self.oauth.sources.lock().expect("sources lock");
        sources.get(&id).cloned()
    }

    /// What the account behind an oauth2 credential's token must be, in words, for when the
    /// mail server refused the token: the mailbox itself or a delegate with full access to it
    /// (a shared mailbox), or for app-only access the app's grant on the mailbox.
    pub(crate) async fn token_rejection_advice(&self, row: &CredentialRow) -> Option<String> {
        let app = self.oauth_app_row(row.fields.oauth_app_id?).await.ok()?;
        let m = row.fields.login_name();
        Some(match app.fields.flow {
            Flow::AuthorizationCode => format!(
                "The account that signed in must be {m} itself or, for a shared mailbox, a \
                 delegate with full access to {m} (Microsoft 365: Add-MailboxPermission -Identity \
                 {m} -User <delegate> -AccessRights FullAccess); the server refuses a token of \
                 any other account. Sign in again with such an account."
            ),
            Flow::ClientCredentials => format!(
                "The OAuth app's own identity must be granted {m} (Microsoft 365: register the \
                 app's service principal in Exchange with New-ServicePrincipal, then \
                 Add-MailboxPermission -Identity {m} -User <service principal id> -AccessRights \
                 FullAccess)."
            ),
        })
    }

    /// The token source Test Connection uses for oauth2 values that may not use a saved
    /// sign-in (a form, or edited values): the app's client-credentials grant. `None` for an
    /// authorization-code app, which has no token before a person signs in on a saved
    /// credential.
    pub(crate) async fn form_token_source(
        &self,
        app_id: Option<i64>,
    ) -> AppResult<Option<Credentials>> {
        let app = match app_id {
            None => Err(AppError::NotFound("OAuth app")),
            Some(id) => self.oauth_app_row(id).await,
        };
        let app = match app {
            Err(AppError::NotFound(_)) => {
                return Err(ValidationError::new(
                    "oauth_app_id",
                    "invalid_id",
                    "OAuth app must be the id of an existing OAuth app.",
                )
                .into());
            }
            other => other?,
        };
        if app.fields.flow != Flow::ClientCredentials {
            return Ok(None);
        }
        let source: Arc<dyn TokenSource> = Arc::new(AppOnlyTokens {
            app: self.oauth_client(&app)?,
            client: self.token_client()?,
            scopes: app.fields.scopes.clone(),
        });
        Ok(Some(Credentials::TokenSource(source)))
    }

    /// After a failed connection: when the token request failed in a way only a person can
    /// fix, the credential goes to "sign in again" (health, exception log, metric) and true is
    /// returned; nothing retries it.
    pub(crate) async fn sign_in_needed(&self, row: &CredentialRow, e: &ConnectError) -> bool {
        e.category == Category::TokenFailed && self.token_failure_needs_person(row).await
    }

    /// After the credential's token source failed (processing or Test Connection): a failure
    /// only a person can fix puts the credential in "sign in again" with the reason in words,
    /// an exception-log entry and a metric, and true is returned; nothing retries it.
    pub(crate) async fn token_failure_needs_person(&self, row: &CredentialRow) -> bool {
        let source = self.known_source(row.id);
        let Some(failure) = source.and_then(|s| s.take_failure()) else {
            return false;
        };
        if !failure.needs_person() {
            return false;
        }
        let words = format!("Sign in again: {}", failure.sentence());
        let h = Health {
            state: HealthState::SignInAgain,
            last_success_at: row.health.last_success_at,
            failing_since: row.health.failing_since.or(Some(now_ms())),
            last_error: Some(words.clone()),
            next_attempt_at: None,
            backlog: None,
        };
        if let Err(err) = self.store.set_health(row.id, &h, 0).await {
            tracing::warn!(credential = row.id, error = %err, "could not record health");
        }
        let entry = ExceptionEntry {
            credential_id: Some(row.id),
            alias_id: None,
            source: "oauth.sign_in_again",
            message: words.clone(),
            details: json!({"error": failure.code, "aadsts": failure.aadsts, "kind": failure.kind.as_str()}),
        };
        if let Err(err) = self.store.record_exception(&entry).await {
            tracing::warn!(credential = row.id, error = %err, "could not record the exception");
        }
        self.metrics.record_sign_in_again();
        tracing::warn!(credential = row.id, reason = %failure.message, "OAuth2 sign-in needed again");
        true
    }
}

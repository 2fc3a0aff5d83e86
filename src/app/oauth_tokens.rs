//! OAuth2 tokens of credentials: an `imap::TokenSource` per credential over `oauth::TokenClient`
//! (the access token in memory only, refreshed ahead of expiry and once more when the server
//! rejects it; a rotated refresh token sealed and stored at once), the "sign in again" state
//! for failures a person must fix, and the authorization-code sign-in (PKCE S256, a `state`
//! bound to who started it, single use, 10 minutes).
//!
//! Must not know HTTP: the web layer passes the redirect URI and the binding in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use super::{App, AppError, AppResult};
use crate::domain::{AuthMethod, Flow, HealthState, Secret, ValidationError};
use crate::imap::{
    AccessToken, Category, ConnectError, Credentials, Login, MailSession, MailTarget, TokenFailure,
    TokenFuture, TokenSource,
};
use crate::oauth::{
    AuthorizationRequest, OAuthClient, Pkce, TokenClient, TokenError, random_state,
};
use crate::store::{CredentialRow, ExceptionEntry, Health, Store, now_ms, refresh_token_ad};
use crate::vault::KeyRing;

/// A cached access token is renewed when it has less than this left.
const RENEW_AHEAD: Duration = Duration::from_secs(120);
/// How long a started sign-in waits for its callback.
const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);

/// The App's OAuth2 state: token sources per credential and sign-ins under way.
#[derive(Default)]
pub(crate) struct OAuthState {
    client: OnceLock<TokenClient>,
    sources: Mutex<HashMap<i64, Arc<CredentialTokens>>>,
    pending: Mutex<HashMap<String, Pending>>,
}

/// A started sign-in, keyed by its `state`.
struct Pending {
    credential_id: i64,
    binding: String,
    verifier: Secret,
    redirect_uri: String,
    started: Instant,
}

/// Where to send the person who signs in.
#[derive(Debug, Clone, Serialize)]
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
                let refresh = self.refresh_token().await?;
                let t = self
                    .client
                    .refresh(&self.app, &refresh, &self.scopes)
                    .await?;
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
        Ok(AccessToken {
            token: tokens.access_token,
            detail: format!(
                "{} grant; valid for {} s",
                match self.flow {
                    Flow::ClientCredentials => "client_credentials",
                    Flow::AuthorizationCode => "refresh_token",
                },
                tokens.expires_in.map_or(0, |d| d.as_secs())
            ),
        })
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
    fn token_client(&self) -> AppResult<TokenClient> {
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
        match MailSession::connect(target, &creds).await {
            Err(e)
                if e.category == Category::AuthTokenRejected
                    && row.fields.auth_method == AuthMethod::OAuth2 =>
            {
                let source = self
                    .oauth
                    .sources
                    .lock()
                    .expect("sources lock")
                    .get(&row.id)
                    .cloned();
                if let Some(s) = source {
                    s.invalidate().await;
                }
                MailSession::connect(target, &creds).await
            }
            other => other,
        }
    }

    /// After a failed connection: when the token request failed in a way only a person can
    /// fix, the credential goes to "sign in again" (health, exception log, metric) and true is
    /// returned; nothing retries it.
    pub(crate) async fn sign_in_needed(&self, row: &CredentialRow, e: &ConnectError) -> bool {
        if e.category != Category::TokenFailed {
            return false;
        }
        let source = self
            .oauth
            .sources
            .lock()
            .expect("sources lock")
            .get(&row.id)
            .cloned();
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

    /// Starts "Sign in with …" for a credential: the provider's authorization URL with PKCE
    /// S256 and a fresh `state` bound to `binding` (the admin session or the API principal).
    pub async fn start_sign_in(
        &self,
        credential_id: i64,
        binding: &str,
        redirect_uri: &str,
    ) -> AppResult<SignInStart> {
        let row = self.credential_row(credential_id).await?;
        let not_code = || {
            AppError::from(ValidationError::new(
                "auth_method",
                "not_authorization_code",
                "Sign in works for oauth2 credentials whose OAuth app uses the authorization_code flow.",
            ))
        };
        let (AuthMethod::OAuth2, Some(app_id)) = (row.fields.auth_method, row.fields.oauth_app_id)
        else {
            return Err(not_code());
        };
        let app = self.oauth_app_row(app_id).await?;
        let (Flow::AuthorizationCode, Some(authorize_url)) =
            (app.fields.flow, &app.fields.authorize_url)
        else {
            return Err(not_code());
        };
        let pkce = Pkce::new();
        let state = random_state();
        let mut extra = app.fields.extra_authorize_params().to_vec();
        extra.push(("login_hint", row.fields.login_name()));
        let url = AuthorizationRequest {
            authorize_url,
            client_id: &app.fields.client_id,
            redirect_uri,
            scopes: &app.fields.scopes,
            state: &state,
            code_challenge: &pkce.challenge,
            extra: &extra,
        }
        .url()
        .map_err(|e| AppError::Other(anyhow::anyhow!(e.sentence())))?;
        let mut pending = self.oauth.pending.lock().expect("pending lock");
        pending.retain(|_, p| p.started.elapsed() < SIGN_IN_LIFETIME);
        pending.insert(
            state,
            Pending {
                credential_id,
                binding: binding.to_string(),
                verifier: pkce.verifier,
                redirect_uri: redirect_uri.to_string(),
                started: Instant::now(),
            },
        );
        Ok(SignInStart {
            authorization_url: url,
        })
    }

    /// The provider's redirect: checks the `state` (known, unused, under 10 minutes, same
    /// binding), trades the code for tokens and stores the refresh token sealed. Returns the
    /// credential's id.
    pub async fn finish_sign_in(
        &self,
        actor: &str,
        binding: Option<&str>,
        state: &str,
        code: Secret,
    ) -> AppResult<i64> {
        let refused = |why: &str| {
            AppError::from(ValidationError::new(
                "state",
                "invalid_state",
                format!(
                    "This sign-in cannot be finished: {why} Start it again from the credential's page."
                ),
            ))
        };
        let p = self
            .oauth
            .pending
            .lock()
            .expect("pending lock")
            .remove(state);
        let Some(p) = p else {
            return Err(refused("it is unknown or was already used."));
        };
        if p.started.elapsed() >= SIGN_IN_LIFETIME {
            return Err(refused("it is more than 10 minutes old."));
        }
        if p.binding.starts_with("session:") && binding != Some(p.binding.as_str()) {
            return Err(refused("it was started in another admin session."));
        }
        let row = self.credential_row(p.credential_id).await?;
        let app_id = row
            .fields
            .oauth_app_id
            .ok_or_else(|| refused("the credential no longer uses an OAuth app."))?;
        let app = self.oauth_app_row(app_id).await?;
        let client = self.oauth_client(&app)?;
        let tokens = self
            .token_client()?
            .exchange_code(
                &client,
                code,
                &p.redirect_uri,
                p.verifier,
                &app.fields.scopes,
            )
            .await
            .map_err(|e| AppError::Upstream(e.sentence()))?;
        let Some(refresh) = tokens.refresh_token else {
            return Err(AppError::Upstream(format!(
                "{} signed in but issued no refresh token: check that the scopes ask for offline access ({}).",
                app.fields.provider.display(),
                app.fields.scopes
            )));
        };
        let sealed = self.seal_with(&refresh, &refresh_token_ad(row.id))?;
        self.store
            .set_refresh_token(row.id, Some(&sealed))
            .await
            .map_err(|e| AppError::from_store(e, "credential"))?;
        let audit = crate::store::AuditEntry::new(actor, "credential.oauth_sign_in", "credential")
            .target(row.id)
            .summary(format!(
                "signed in with {} for credential {:?}",
                app.fields.provider.display(),
                row.fields.configuration_name.as_str()
            ));
        self.store
            .audit(&audit)
            .await
            .map_err(|e| AppError::from_store(e, "credential"))?;
        self.oauth
            .sources
            .lock()
            .expect("sources lock")
            .remove(&row.id);
        let h = Health {
            state: HealthState::Idle,
            last_success_at: row.health.last_success_at,
            failing_since: None,
            last_error: None,
            next_attempt_at: None,
            backlog: None,
        };
        self.store
            .set_health(row.id, &h, 0)
            .await
            .map_err(|e| AppError::from_store(e, "credential"))?;
        Ok(row.id)
    }

    /// Forgets a started sign-in (the provider answered with an error).
    pub fn cancel_sign_in(&self, state: &str) {
        self.oauth
            .pending
            .lock()
            .expect("pending lock")
            .remove(state);
    }

    /// Seals with the current key file (re-read if another process rotated it).
    fn seal_with(&self, plain: &Secret, ad: &str) -> AppResult<crate::vault::Sealed> {
        self.refresh_keys()?;
        Ok(self.keys.read().expect("key ring lock").seal(plain, ad))
    }
}

//! "Sign in with …" for an oauth2 credential whose OAuth app uses the authorization-code flow:
//! the provider's authorization URL with PKCE S256 and a `state` bound to who started it (the
//! admin session, the API principal or the CLI user); the callback checks that `state` (known,
//! unused, under 10 minutes, same admin session), trades the code for tokens and stores the
//! refresh token sealed. A started sign-in is a database row (`store::PendingSignIn`, the
//! verifier sealed), so a restart or another node can finish it, once.
//!
//! Must not know HTTP: the web layer passes the redirect URI and the binding in.

use std::time::Duration;

use super::{App, AppError, AppResult, StoreResultExt};
use crate::domain::{AuthMethod, Flow, Secret, ValidationError};
use crate::oauth::{AuthorizationRequest, Pkce, random_state};
use crate::store::{PendingSignIn, now_ms, refresh_token_ad, sign_in_verifier_ad};

use super::oauth_tokens::SignInStart;

/// How long a started sign-in waits for its callback.
const SIGN_IN_LIFETIME: Duration = Duration::from_secs(600);

/// A sign-in's row key: the SHA-256 of its `state` (the state itself travels in URLs).
fn state_hash(state: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(state.as_bytes()))
}

impl App {
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
        let key = state_hash(&state);
        let pending = PendingSignIn {
            credential_id,
            binding: binding.to_string(),
            redirect_uri: redirect_uri.to_string(),
            sealed_verifier: self.seal_with(&pkce.verifier, &sign_in_verifier_ad(&key))?,
            expires_at: now_ms() + SIGN_IN_LIFETIME.as_millis() as i64,
        };
        self.store
            .insert_sign_in(&key, &pending)
            .await
            .app_err("sign-in")?;
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
        let key = state_hash(state);
        let taken = self.store.take_sign_in(&key).await.app_err("sign-in")?;
        let Some(p) = taken else {
            return Err(refused("it is unknown or was already used."));
        };
        if p.expires_at <= now_ms() {
            return Err(refused("it is more than 10 minutes old."));
        }
        if p.binding.starts_with("session:") && binding != Some(p.binding.as_str()) {
            return Err(refused("it was started in another admin session."));
        }
        let verifier = self
            .open_sealed(&p.sealed_verifier, &sign_in_verifier_ad(&key))
            .map_err(|e| refused(&format!("its stored PKCE verifier cannot be opened ({e}).")))?;
        let row = self.credential_row(p.credential_id).await?;
        let app_id = row
            .fields
            .oauth_app_id
            .ok_or_else(|| refused("the credential no longer uses an OAuth app."))?;
        let app = self.oauth_app_row(app_id).await?;
        let client = self.oauth_client(&app)?;
        let tokens = self
            .token_client()?
            .exchange_code(&client, code, &p.redirect_uri, verifier, &app.fields.scopes)
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
        let audit = crate::store::AuditEntry::new(actor, "credential.oauth_sign_in", "credential")
            .target(row.id)
            .summary(format!(
                "signed in with {} for credential {:?}",
                app.fields.provider.display(),
                row.fields.configuration_name.as_str()
            ));
        // A new sign-in ends "sign in again" (and any back-off) in the same transaction.
        self.store
            .store_sign_in(row.id, &sealed, &audit)
            .await
            .app_err("credential")?;
        self.forget_token_source(row.id);
        Ok(row.id)
    }

    /// Forgets a started sign-in (the provider answered with an error).
    pub async fn cancel_sign_in(&self, state: &str) {
        if let Err(e) = self.store.take_sign_in(&state_hash(state)).await {
            tracing::warn!(error = %e, "could not forget a cancelled sign-in");
        }
    }

    /// Seals with the current key file (re-read if another process rotated it).
    fn seal_with(&self, plain: &Secret, ad: &str) -> AppResult<crate::vault::Sealed> {
        self.refresh_keys()?;
        Ok(self.keys.read().expect("key ring lock").seal(plain, ad))
    }
}

//! Web UI sign-in: administrator sessions (random cookie value, stored hashed, 12 h) each with
//! its own CSRF token. Must not know about cookies or HTTP: the web layer carries the values.

use super::access::{random_text, token_hash};
use super::{App, AppError, AppResult};
use crate::domain::Secret;
use crate::store::{AuditEntry, now_ms};

const SESSION_HOURS: i64 = 12;

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub username: String,
    pub csrf_token: String,
    /// How the audit log names this administrator.
    pub actor: String,
}

impl App {
    /// Checks the username and password; on success opens a session and returns the cookie
    /// value (shown to the browser only) and the session.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &Secret,
    ) -> AppResult<Option<(String, AdminSession)>> {
        let Some(principal) = self.verify_user(username, password).await? else {
            let entry = AuditEntry::new("anonymous", "user.login_failed", "user").summary(format!(
                "failed sign-in as {:?}",
                username.chars().take(64).collect::<String>()
            ));
            self.store
                .audit(&entry)
                .await
                .map_err(|e| AppError::from_store(e, "user"))?;
            return Ok(None);
        };
        let user = self
            .store
            .find_user(username)
            .await
            .map_err(|e| AppError::from_store(e, "user"))?
            .ok_or(AppError::NotFound("user"))?;
        let cookie_value = random_text(32);
        let csrf_token = random_text(24);
        let expires_at = now_ms() + SESSION_HOURS * 3600 * 1000;
        self.store
            .insert_session(
                &token_hash(&cookie_value),
                user.id,
                &user.username,
                &csrf_token,
                expires_at,
            )
            .await
            .map_err(|e| AppError::from_store(e, "session"))?;
        let entry = AuditEntry::new(&principal.actor, "user.login", "user")
            .target(user.id)
            .summary("signed in to the admin UI");
        self.store
            .audit(&entry)
            .await
            .map_err(|e| AppError::from_store(e, "user"))?;
        Ok(Some((
            cookie_value,
            AdminSession {
                username: user.username,
                csrf_token,
                actor: principal.actor,
            },
        )))
    }

    /// The live session a cookie value belongs to.
    pub async fn session(&self, cookie_value: &str) -> AppResult<Option<AdminSession>> {
        let row = self
            .store
            .find_session(&token_hash(cookie_value))
            .await
            .map_err(|e| AppError::from_store(e, "session"))?;
        Ok(row.map(|r| AdminSession {
            actor: format!("user:{}", r.username),
            username: r.username,
            csrf_token: r.csrf_token,
        }))
    }

    pub async fn sign_out(&self, cookie_value: &str) -> AppResult<()> {
        self.store
            .delete_session(&token_hash(cookie_value))
            .await
            .map_err(|e| AppError::from_store(e, "session"))
    }
}

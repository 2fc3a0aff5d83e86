//! Web UI sign-in: administrator sessions (random cookie value, stored hashed, 12 h) each with
//! its own CSRF token. Must not know about cookies or HTTP: the web layer carries the values.

use super::access::{random_text, token_hash};
use super::{App, AppError, AppResult, StoreResultExt};
use crate::domain::Secret;
use crate::store::{AuditEntry, now_ms};

const SESSION_HOURS: i64 = 12;
/// Failed sign-ins written to the audit log per hour, at most.
pub const FAILED_SIGN_IN_AUDITS_PER_HOUR: u32 = 100;

/// A count per clock hour, so unauthenticated requests cannot fill the audit log.
#[derive(Default)]
pub(crate) struct AuditAllowance(std::sync::Mutex<(i64, u32)>);

impl AuditAllowance {
    /// Whether one more entry may be written this hour.
    fn take(&self) -> bool {
        let hour = now_ms() / 3_600_000;
        let mut g = self.0.lock().expect("audit allowance");
        if g.0 != hour {
            *g = (hour, 0);
        }
        g.1 += 1;
        g.1 <= FAILED_SIGN_IN_AUDITS_PER_HOUR
    }
}

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
            self.audit_failed_sign_in(username).await?;
            return Ok(None);
        };
        let user = self
            .store
            .find_user(username)
            .await
            .app_err("user")?
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
            .app_err("session")?;
        let entry = AuditEntry::new(&principal.actor, "user.login", "user")
            .target(user.id)
            .summary("signed in to the admin UI");
        self.store.audit(&entry).await.app_err("user")?;
        Ok(Some((
            cookie_value,
            AdminSession {
                username: user.username,
                csrf_token,
                actor: principal.actor,
            },
        )))
    }

    /// Writes a failed sign-in to the audit log: the username only when such an administrator
    /// exists (a password typed into the username field must not be kept), and at most
    /// `FAILED_SIGN_IN_AUDITS_PER_HOUR` entries an hour; past that they are only logged.
    async fn audit_failed_sign_in(&self, username: &str) -> AppResult<()> {
        if !self.failed_sign_in_audits.take() {
            tracing::warn!(
                "failed sign-in (audit entries for failed sign-ins are capped this hour)"
            );
            return Ok(());
        }
        let known = self.store.find_user(username).await.app_err("user")?;
        let entry = AuditEntry::new("anonymous", "user.login_failed", "user");
        let entry = match known {
            Some(user) => entry
                .target(user.id)
                .summary(format!("failed sign-in as {:?}", user.username)),
            None => entry.summary("failed sign-in with an unknown username"),
        };
        self.store.audit(&entry).await.app_err("user")
    }

    /// The live session a cookie value belongs to.
    pub async fn session(&self, cookie_value: &str) -> AppResult<Option<AdminSession>> {
        let row = self
            .store
            .find_session(&token_hash(cookie_value))
            .await
            .app_err("session")?;
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
            .app_err("session")
    }
}

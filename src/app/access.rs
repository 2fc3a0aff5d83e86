//! Who may act: API tokens (random, shown once, stored as SHA-256), administrator users
//! (Argon2id), and the first administrator and token of a new installation.

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{App, AppError, AppResult, StoreResultExt};
use crate::domain::{Secret, ValidationError};
use crate::store::{AuditRow, TokenRow};

const TOKEN_PREFIX: &str = "mrt_";
/// Argon2 computations allowed at once (one per core of the machine this was sized on).
pub(super) const PASSWORD_WORK_AT_ONCE: usize = 2;
/// The longest a sign-in waits for its turn at an Argon2 check.
const PASSWORD_WORK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An authenticated caller, named the way the audit log names it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: String,
}

/// A token just created: the only moment its value is known.
#[derive(Debug, Serialize)]
pub struct NewToken {
    pub id: i64,
    pub name: String,
    pub token: String,
}

/// What the first start of a new installation created.
pub struct FirstStart {
    pub username: String,
    pub password: Secret,
    pub token: NewToken,
}

pub(super) fn random_text(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

pub(super) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn parse_username(input: &str) -> Result<String, ValidationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(ValidationError::required("username", "Username"));
    }
    if s.chars().count() > 64
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@+".contains(c))
    {
        return Err(ValidationError::new(
            "username",
            "invalid_format",
            "Username must be 1–64 letters, digits or . _ - @ +.",
        ));
    }
    Ok(s.to_string())
}

impl App {
    pub async fn create_token(&self, actor: &str, name: &str) -> AppResult<NewToken> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ValidationError::new(
                "name",
                "invalid_length",
                "Token name must be 1–100 characters.",
            )
            .into());
        }
        let token = format!("{TOKEN_PREFIX}{}", random_text(32));
        let row = self
            .store
            .insert_token(name, &token_hash(&token), actor)
            .await
            .app_err("token")?;
        Ok(NewToken {
            id: row.id,
            name: row.name,
            token,
        })
    }

    pub async fn list_tokens(&self) -> AppResult<Vec<TokenRow>> {
        self.store.list_tokens().await.app_err("token")
    }

    pub async fn revoke_token(&self, actor: &str, id: i64) -> AppResult<TokenRow> {
        self.store.revoke_token(id, actor).await.app_err("token")
    }

    /// The caller a bearer token belongs to, if it is live.
    pub async fn authenticate_token(&self, token: &str) -> AppResult<Option<Principal>> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = self
            .store
            .use_token(&token_hash(token))
            .await
            .app_err("token")?;
        Ok(row.map(|t| Principal {
            actor: format!("token:{}#{}", t.name, t.id),
        }))
    }

    pub async fn create_user(
        &self,
        actor: &str,
        username: &str,
        password: &Secret,
    ) -> AppResult<i64> {
        let username = parse_username(username)?;
        if password.expose().chars().count() < 12 {
            return Err(ValidationError::new(
                "password",
                "too_short",
                "An administrator password must be at least 12 characters.",
            )
            .into());
        }
        let password = password.clone();
        let hash = self
            .password_work(move || hash_password(&password))
            .await??;
        self.store
            .insert_user(&username, &hash, actor)
            .await
            .app_err("user")
    }

    /// The administrator with this username and password, if both match. The Argon2 check
    /// runs through `password_work`; an unknown username costs the same time as a known one.
    pub async fn verify_user(
        &self,
        username: &str,
        password: &Secret,
    ) -> AppResult<Option<Principal>> {
        let user = self.store.find_user(username).await.app_err("user")?;
        let password = password.clone();
        let Some(user) = user else {
            self.password_work(move || hash_password(&password))
                .await??;
            return Ok(None);
        };
        let stored = user.password_hash.clone();
        let who = user.username.clone();
        let ok = self
            .password_work(move || {
                let parsed = PasswordHash::new(&stored).map_err(|e| {
                    anyhow::anyhow!("stored password hash of {who} is unreadable: {e}")
                })?;
                anyhow::Ok(
                    Argon2::default()
                        .verify_password(password.expose().as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await??;
        Ok(ok.then(|| Principal {
            actor: format!("user:{}", user.username),
        }))
    }

    /// Runs Argon2 work (about 19 MiB and tens of milliseconds each) on a thread of its own,
    /// at most `PASSWORD_WORK_AT_ONCE` at a time, so a flood of sign-ins can neither exhaust
    /// memory nor stall the async workers. A thread per check, because a thread that lives on
    /// keeps each check's 19 MiB (measured: a long-lived thread grew by that much per check,
    /// and the blocking pool reached 400 MiB after twenty sign-ins); the memory goes back when
    /// the thread ends. A caller waits at most `PASSWORD_WORK_WAIT` for its turn, then is told
    /// to try again.
    async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = tokio::time::timeout(
            PASSWORD_WORK_WAIT,
            self.password_work.clone().acquire_owned(),
        )
        .await
        .map_err(|_| AppError::TooManyRequests {
            message: "Too many sign-ins are being checked at once. Try again in a few seconds."
                .into(),
            retry_after: std::time::Duration::from_secs(5),
        })?
        .map_err(|e| anyhow::anyhow!("password checks stopped: {e}"))?;
        self.metrics.record_password_check();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("password-check".into())
            .spawn(move || {
                let _ = tx.send(work());
                drop(permit); // held until the work is done, even if the caller went away
            })
            .map_err(|e| anyhow::anyhow!("starting a password check: {e}"))?;
        rx.await
            .map_err(|_| AppError::Other(anyhow::anyhow!("a password check failed")))
    }

    /// On the first start of a new installation (no administrator, no token), creates the
    /// administrator `admin` with a random password and an API token, to be shown once.
    pub async fn first_start(&self) -> AppResult<Option<FirstStart>> {
        let existing = self.store.count_principals().await.app_err("user")?;
        if existing > 0 {
            return Ok(None);
        }
        let username = "admin".to_string();
        let password = Secret::new(random_text(18));
        self.create_user("system:first-start", &username, &password)
            .await?;
        let token = self.create_token("system:first-start", "initial").await?;
        Ok(Some(FirstStart {
            username,
            password,
            token,
        }))
    }

    pub async fn list_audit(&self, limit: i64, before_id: Option<i64>) -> AppResult<Vec<AuditRow>> {
        self.store
            .list_audit(limit.clamp(1, 1000), before_id)
            .await
            .app_err("audit entry")
    }
}

fn hash_password(password: &Secret) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
        .context("creating an administrator")
}

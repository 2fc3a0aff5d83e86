//! OAuth2 sign-ins under way (`oauth_sign_ins`): one row per started "Sign in with …", keyed by
//! the SHA-256 of its `state`, with the PKCE verifier sealed to that row (associated data
//! `oauth_sign_in:{state hash}:verifier`, re-sealed by `keys rotate` like every sealed column),
//! who started it and when it expires. In the database rather than in one process's memory, so
//! a restart or another node can finish it; taken with one `DELETE … RETURNING`, so it is used
//! at most once. Finishing a sign-in stores the refresh
//! token, the credential's health and the audit entry in one transaction.

use sqlx::Row;

use super::audit::write_audit;
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, with_pool};
use crate::domain::HealthState;
use crate::vault::Sealed;

/// A started sign-in, as stored.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    pub credential_id: i64,
    /// Who may finish it: `session:{hash}` (that admin session only), `principal:{actor}`,
    /// `cli:{actor}`.
    pub binding: String,
    pub redirect_uri: String,
    pub sealed_verifier: Sealed,
    pub expires_at: i64,
}

impl Store {
    /// Records a started sign-in (and forgets every expired one).
    pub async fn insert_sign_in(&self, state_hash: &str, p: &PendingSignIn) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let now = now_ms();
            sqlx::query("DELETE FROM oauth_sign_ins WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO oauth_sign_ins (state_hash, credential_id, binding, redirect_uri, \
                 verifier_key_id, verifier_nonce, verifier_sealed, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(state_hash)
            .bind(p.credential_id)
            .bind(&p.binding)
            .bind(&p.redirect_uri)
            .bind(&p.sealed_verifier.key_id)
            .bind(&p.sealed_verifier.nonce)
            .bind(&p.sealed_verifier.ciphertext)
            .bind(now)
            .bind(p.expires_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Takes a started sign-in out (expired or not: the caller says which): a second take of
    /// the same state finds nothing.
    pub async fn take_sign_in(&self, state_hash: &str) -> StoreResult<Option<PendingSignIn>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "DELETE FROM oauth_sign_ins WHERE state_hash = $1 RETURNING credential_id, \
                 binding, redirect_uri, verifier_key_id, verifier_nonce, verifier_sealed, expires_at",
            )
            .bind(state_hash)
            .fetch_optional(pool)
            .await?;
            let Some(r) = row else {
                return Ok(None);
            };
            Ok(Some(PendingSignIn {
                credential_id: r.try_get("credential_id")?,
                binding: r.try_get("binding")?,
                redirect_uri: r.try_get("redirect_uri")?,
                sealed_verifier: Sealed {
                    key_id: r.try_get("verifier_key_id")?,
                    nonce: r.try_get("verifier_nonce")?,
                    ciphertext: r.try_get("verifier_sealed")?,
                },
                expires_at: r.try_get("expires_at")?,
            }))
        })
    }

    /// A finished sign-in, together: the credential's new refresh token, its health back to
    /// idle (no error, no back-off: "sign in again" ends) and the audit entry.
    pub async fn store_sign_in(
        &self,
        credential_id: i64,
        refresh_token: &Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE credentials SET refresh_key_id = $1, refresh_nonce = $2, \
                 refresh_sealed = $3, health_state = $4, failing_since = NULL, \
                 last_error = NULL, next_attempt_at = NULL, auth_failures = 0 WHERE id = $5",
            )
            .bind(&refresh_token.key_id)
            .bind(&refresh_token.nonce)
            .bind(&refresh_token.ciphertext)
            .bind(HealthState::Idle.as_str())
            .bind(credential_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            write_audit!(&mut *tx, audit)?;
            tx.commit().await?;
            Ok(())
        })
    }
}

//! API tokens (stored as SHA-256 hashes) and administrator users (Argon2id hashes).
//! Hashing happens in `app`; this module stores and finds hashes only.

use serde::Serialize;
use sqlx::Row;

use super::audit::write_audit;
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, unique_conflict, with_pool};

#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
}

macro_rules! token_from_row {
    ($r:expr) => {
        TokenRow {
            id: $r.try_get("id")?,
            name: $r.try_get("name")?,
            created_at: $r.try_get("created_at")?,
            created_by: $r.try_get("created_by")?,
            last_used_at: $r.try_get("last_used_at")?,
            revoked_at: $r.try_get("revoked_at")?,
        }
    };
}

const TOKEN_COLUMNS: &str = "id, name, created_at, created_by, last_used_at, revoked_at";

impl Store {
    pub async fn insert_token(
        &self,
        name: &str,
        token_hash: &str,
        actor: &str,
    ) -> StoreResult<TokenRow> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO api_tokens (name, token_hash, created_at, created_by) VALUES ($1, $2, $3, $4) RETURNING {TOKEN_COLUMNS}"
            )))
            .bind(name)
            .bind(token_hash)
            .bind(now_ms())
            .bind(actor)
            .fetch_one(&mut *tx)
            .await?;
            let token = token_from_row!(row);
            let entry = AuditEntry::new(actor, "token.create", "token")
                .target(token.id)
                .summary(format!("created API token {name:?}"));
            write_audit!(&mut *tx, &entry)?;
            tx.commit().await?;
            Ok(token)
        })
    }

    /// The live (not revoked) token with this hash, marking it used.
    pub async fn use_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL RETURNING {TOKEN_COLUMNS}"
            )))
            .bind(now_ms())
            .bind(token_hash)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(Some(token_from_row!(r))),
                None => Ok(None),
            }
        })
    }

    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenRow>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
            )))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(token_from_row!(r));
            }
            Ok(out)
        })
    }

    pub async fn revoke_token(&self, id: i64, actor: &str) -> StoreResult<TokenRow> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING {TOKEN_COLUMNS}"
            )))
            .bind(now_ms())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Err(StoreError::NotFound);
            };
            let token = token_from_row!(row);
            let entry = AuditEntry::new(actor, "token.revoke", "token")
                .target(id)
                .summary(format!("revoked API token {:?}", token.name));
            write_audit!(&mut *tx, &entry)?;
            tx.commit().await?;
            Ok(token)
        })
    }

    pub async fn insert_user(
        &self,
        username: &str,
        password_hash: &str,
        actor: &str,
    ) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (username, username_key, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(username)
            .bind(username.to_lowercase())
            .bind(password_hash)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, &[("username_key", "username", "An administrator with this username already exists.")]))?;
            let entry = AuditEntry::new(actor, "user.create", "user")
                .target(id)
                .summary(format!("created administrator {username:?}"));
            write_audit!(&mut *tx, &entry)?;
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn find_user(&self, username: &str) -> StoreResult<Option<UserRow>> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT id, username, password_hash, created_at FROM users WHERE username_key = $1",
            )
            .bind(username.to_lowercase())
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(Some(UserRow {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                    password_hash: r.try_get("password_hash")?,
                    created_at: r.try_get("created_at")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// How many administrators and API tokens exist (first-start detection).
    pub async fn count_principals(&self) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            let n: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_tokens)",
            )
            .fetch_one(pool)
            .await?;
            Ok(n)
        })
    }
}

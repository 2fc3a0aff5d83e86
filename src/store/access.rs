//! API tokens (stored as SHA-256 hashes) and administrator users (Argon2id hashes).
//! Hashing happens in `app`; this module stores and finds hashes only.

use serde::Serialize;

use super::audit::write_audit;
use super::rows::{Columns, Table, from_columns};
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, with_pool};

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

from_columns!(TokenRow {
    id,
    name,
    created_at,
    created_by,
    last_used_at,
    revoked_at
});

from_columns!(UserRow {
    id,
    username,
    password_hash,
    created_at
});

const TOKENS: Table = Table {
    name: "api_tokens",
    columns: "id, name, created_at, created_by, last_used_at, revoked_at",
    order: "id",
    conflicts: &[],
};

const USERS: Table = Table {
    name: "users",
    columns: "id, username, password_hash, created_at",
    order: "id",
    conflicts: &[(
        "username_key",
        "username",
        "An administrator with this username already exists.",
    )],
};

impl Store {
    pub async fn insert_token(
        &self,
        name: &str,
        token_hash: &str,
        actor: &str,
    ) -> StoreResult<TokenRow> {
        let now = now_ms();
        let columns = Columns::new()
            .set("name", name)
            .set("token_hash", token_hash)
            .set("created_at", now)
            .set("created_by", actor);
        let entry = AuditEntry::new(actor, "token.create", "token")
            .summary(format!("created API token {name:?}"));
        Ok(TokenRow {
            id: self.insert_audited(&TOKENS, columns, entry).await?,
            name: name.to_string(),
            created_at: now,
            created_by: actor.to_string(),
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// The live (not revoked) token with this hash, marking it used.
    pub async fn use_token(&self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        let sql = format!(
            "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL \
             RETURNING {}",
            TOKENS.columns
        );
        self.row(sql, &[now_ms().into(), token_hash.into()]).await
    }

    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenRow>> {
        self.select(&TOKENS, "", &[]).await
    }

    pub async fn revoke_token(&self, id: i64, actor: &str) -> StoreResult<TokenRow> {
        let sql = format!(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             RETURNING {}",
            TOKENS.columns
        );
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let token: Option<TokenRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(now_ms())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let token = token.ok_or(StoreError::NotFound)?;
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
        let columns = Columns::new()
            .set("username", username)
            .set("username_key", username.to_lowercase())
            .set("password_hash", password_hash)
            .set("created_at", now_ms());
        let entry = AuditEntry::new(actor, "user.create", "user")
            .summary(format!("created administrator {username:?}"));
        self.insert_audited(&USERS, columns, entry).await
    }

    pub async fn find_user(&self, username: &str) -> StoreResult<Option<UserRow>> {
        let sql = USERS.select("WHERE username_key = $1");
        self.row(sql, &[username.to_lowercase().into()]).await
    }

    /// How many administrators and API tokens exist (first-start detection).
    pub async fn count_principals(&self) -> StoreResult<i64> {
        let sql = "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_tokens)";
        let (n,): (i64,) = self.row(sql, &[]).await?.unwrap_or_default();
        Ok(n)
    }
}

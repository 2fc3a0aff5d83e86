//! Administrator sessions for the web UI: stored by the SHA-256 of the cookie value, with the
//! CSRF token of the session and an expiry. The cookie value itself is never stored.

use super::rows::from_columns;
use super::{Store, StoreResult, now_ms, with_pool};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

from_columns!(SessionRow {
    user_id,
    username,
    csrf_token,
    expires_at
});

impl Store {
    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: i64,
        username: &str,
        csrf_token: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let now = now_ms();
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO admin_sessions (id_hash, user_id, username, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(username)
            .bind(csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The live session with this id hash.
    pub async fn find_session(&self, id_hash: &str) -> StoreResult<Option<SessionRow>> {
        let sql = "SELECT user_id, username, csrf_token, expires_at FROM admin_sessions \
                   WHERE id_hash = $1 AND expires_at > $2";
        self.row(sql, &[id_hash.into(), now_ms().into()]).await
    }

    pub async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}

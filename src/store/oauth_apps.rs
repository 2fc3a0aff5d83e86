//! OAuth app rows: the fields and the sealed client secret (associated data
//! `oauth_app:{id}:client_secret`, sealed by the caller's closure once the id is known). Deleting
//! an app a credential still signs in through is refused, naming the credentials.

use anyhow::anyhow;
use sqlx::Row;

use super::audit::{commit_change, write_audit};
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, unique_conflict, with_pool};
use crate::domain::{OAuthAppFields, RawOAuthApp};
use crate::vault::Sealed;

#[derive(Debug, Clone)]
pub struct OAuthAppRow {
    pub id: i64,
    pub fields: OAuthAppFields,
    /// `None`: a public client (PKCE only).
    pub sealed_secret: Option<Sealed>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

const COLUMNS: &str = "id, name, provider, flow, client_id, tenant, authorize_url, token_url, \
    scopes, secret_key_id, secret_nonce, secret_sealed, created_at, created_by, updated_at, updated_by";

const CONFLICTS: &[(&str, &str, &str)] = &[(
    "name_key",
    "name",
    "An OAuth app with this name already exists (names are compared without regard to case).",
)];

macro_rules! app_from_row {
    ($r:expr) => {{
        let r = &$r;
        let id: i64 = r.try_get("id")?;
        let raw = RawOAuthApp {
            name: r.try_get("name")?,
            provider: r.try_get("provider")?,
            flow: r.try_get("flow")?,
            client_id: r.try_get("client_id")?,
            client_secret: None,
            tenant: r.try_get("tenant")?,
            authorize_url: r.try_get("authorize_url")?,
            token_url: r.try_get("token_url")?,
            scopes: r.try_get("scopes")?,
        };
        let fields = OAuthAppFields::parse(&raw)
            .map_err(|e| anyhow!("OAuth app {id} in the database is not valid: {e}"))?;
        let key_id: String = r.try_get("secret_key_id")?;
        OAuthAppRow {
            id,
            fields,
            sealed_secret: (!key_id.is_empty())
                .then(|| -> Result<Sealed, sqlx::Error> {
                    Ok(Sealed {
                        key_id,
                        nonce: r.try_get("secret_nonce")?,
                        ciphertext: r.try_get("secret_sealed")?,
                    })
                })
                .transpose()?,
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
        }
    }};
}

/// The sealed parts to bind: empty when there is no secret.
fn parts(s: Option<&Sealed>) -> (&str, &[u8], &[u8]) {
    match s {
        Some(s) => (&s.key_id, &s.nonce, &s.ciphertext),
        None => ("", &[], &[]),
    }
}

impl Store {
    /// Inserts an app; `seal` gets the new id and seals the client secret (if any).
    pub async fn insert_oauth_app(
        &self,
        f: &OAuthAppFields,
        seal: impl FnOnce(i64) -> Option<Sealed>,
        audit: AuditEntry,
    ) -> StoreResult<OAuthAppRow> {
        let now = now_ms();
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO oauth_apps (name, name_key, provider, flow, client_id, tenant, \
                 authorize_url, token_url, scopes, secret_key_id, secret_nonce, secret_sealed, \
                 created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, $10, $11, $12, $11, $12) \
                 RETURNING id",
            )
            .bind(&f.name)
            .bind(f.name.to_lowercase())
            .bind(f.provider.as_str())
            .bind(f.flow.as_str())
            .bind(&f.client_id)
            .bind(&f.tenant)
            .bind(&f.authorize_url)
            .bind(&f.token_url)
            .bind(&f.scopes)
            .bind(Vec::<u8>::new())
            .bind(now)
            .bind(&audit.actor)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONFLICTS))?;
            let sealed = seal(id);
            let (k, n, c) = parts(sealed.as_ref());
            sqlx::query("UPDATE oauth_apps SET secret_key_id = $1, secret_nonce = $2, secret_sealed = $3 WHERE id = $4")
                .bind(k)
                .bind(n)
                .bind(c)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            id
        });
        self.get_oauth_app(id).await
    }

    pub async fn list_oauth_apps(&self) -> StoreResult<Vec<OAuthAppRow>> {
        with_pool!(self, |pool| {
            let sql = format!("SELECT {COLUMNS} FROM oauth_apps ORDER BY name_key, id");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(app_from_row!(r));
            }
            Ok(out)
        })
    }

    pub async fn get_oauth_app(&self, id: i64) -> StoreResult<OAuthAppRow> {
        with_pool!(self, |pool| {
            let sql = format!("SELECT {COLUMNS} FROM oauth_apps WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(app_from_row!(r)),
                None => Err(StoreError::NotFound),
            }
        })
    }

    /// Edits the fields; with `secret`, replaces the client secret. `sign_out` forgets the
    /// refresh tokens of the credentials that sign in through it, in the same transaction.
    pub async fn update_oauth_app(
        &self,
        id: i64,
        f: &OAuthAppFields,
        secret: Option<&Sealed>,
        sign_out: bool,
        audit: AuditEntry,
    ) -> StoreResult<OAuthAppRow> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if let Some(s) = secret {
                sqlx::query("UPDATE oauth_apps SET secret_key_id = $1, secret_nonce = $2, secret_sealed = $3 WHERE id = $4")
                    .bind(&s.key_id)
                    .bind(&s.nonce)
                    .bind(&s.ciphertext)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            if sign_out {
                sqlx::query(
                    "UPDATE credentials SET refresh_key_id = '', refresh_nonce = NULL, \
                     refresh_sealed = NULL WHERE oauth_app_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            let done = sqlx::query(
                "UPDATE oauth_apps SET name = $1, name_key = $2, provider = $3, flow = $4, \
                 client_id = $5, tenant = $6, authorize_url = $7, token_url = $8, scopes = $9, \
                 updated_at = $10, updated_by = $11 WHERE id = $12",
            )
            .bind(&f.name)
            .bind(f.name.to_lowercase())
            .bind(f.provider.as_str())
            .bind(f.flow.as_str())
            .bind(&f.client_id)
            .bind(&f.tenant)
            .bind(&f.authorize_url)
            .bind(&f.token_url)
            .bind(&f.scopes)
            .bind(now_ms())
            .bind(&audit.actor)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONFLICTS))?;
            commit_change!(tx, done, &audit.target(id));
        });
        self.get_oauth_app(id).await
    }

    /// Deletes an app no credential uses; else a conflict naming them, and nothing changes.
    pub async fn delete_oauth_app(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT configuration_name FROM credentials WHERE oauth_app_id = $1 ORDER BY name_key",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            if !users.is_empty() {
                return Err(StoreError::Conflict {
                    field: "id",
                    message: format!(
                        "This OAuth app is still used by credential {}: move them to another app or delete them first; nothing was deleted.",
                        users
                            .iter()
                            .map(|u| format!("{u:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            let done = sqlx::query("DELETE FROM oauth_apps WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }
}

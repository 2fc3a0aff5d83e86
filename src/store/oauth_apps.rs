//! OAuth app rows: the fields and the sealed client secret (associated data
//! `oauth_app:{id}:client_secret`, sealed by the caller's closure once the id is known). Deleting
//! an app a credential still signs in through is refused, naming the credentials.

use super::audit::{commit_change, write_audit};
use super::credentials::CLIENT_SECRET;
use super::rows::{Columns, Conflicts, Table, from_row, not_valid, update_row};
use super::{AuditEntry, Store, StoreError, StoreResult, unique_conflict, with_pool};
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

const TABLE: Table = Table {
    name: "oauth_apps",
    columns: COLUMNS,
    order: "name_key, id",
    conflicts: CONFLICTS,
};

const CONFLICTS: Conflicts = &[(
    "name_key",
    "name",
    "An OAuth app with this name already exists (names are compared without regard to case).",
)];

from_row!(OAuthAppRow, |r| {
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
        .map_err(|e| not_valid(format!("OAuth app {id} in the database is not valid: {e}")))?;
    let key_id: String = r.try_get("secret_key_id")?;
    Ok(OAuthAppRow {
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
    })
});

/// The columns of an app's fields.
fn columns(f: &OAuthAppFields) -> Columns {
    Columns::new()
        .set("name", f.name.as_str())
        .set("name_key", f.name.to_lowercase())
        .set("provider", f.provider.as_str())
        .set("flow", f.flow.as_str())
        .set("client_id", f.client_id.as_str())
        .set("tenant", f.tenant.as_deref())
        .set("authorize_url", f.authorize_url.as_deref())
        .set("token_url", f.token_url.as_str())
        .set("scopes", f.scopes.as_str())
}

impl Store {
    /// Inserts an app; `seal` gets the new id and seals the client secret (if any).
    pub async fn insert_oauth_app(
        &self,
        f: &OAuthAppFields,
        seal: impl FnOnce(i64) -> Option<Sealed>,
        audit: AuditEntry,
    ) -> StoreResult<OAuthAppRow> {
        let columns = columns(f).sealed(&CLIENT_SECRET, None);
        let columns = columns.created_by(&audit.actor);
        let then = |id| Columns::new().sealed(&CLIENT_SECRET, seal(id).as_ref());
        let id = self.insert_sealed(&TABLE, columns, audit, then).await?;
        self.get_oauth_app(id).await
    }

    pub async fn list_oauth_apps(&self) -> StoreResult<Vec<OAuthAppRow>> {
        self.select(&TABLE, "", &[]).await
    }

    pub async fn get_oauth_app(&self, id: i64) -> StoreResult<OAuthAppRow> {
        self.by_id(&TABLE, id).await
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
        let mut columns = columns(f).updated_by(&audit.actor);
        if let Some(s) = secret {
            columns = columns.sealed(&CLIENT_SECRET, Some(s));
        }
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if sign_out {
                sqlx::query(
                    "UPDATE credentials SET refresh_key_id = '', refresh_nonce = NULL, \
                     refresh_sealed = NULL WHERE oauth_app_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            let done = update_row!(&mut *tx, TABLE.name, &columns, id)
                .map_err(|e| unique_conflict(e, TABLE.conflicts))?;
            commit_change!(tx, done, &audit.target(id));
        });
        self.get_oauth_app(id).await
    }

    /// Deletes an app no credential uses; else a conflict naming them, and nothing changes.
    pub async fn delete_oauth_app(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
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

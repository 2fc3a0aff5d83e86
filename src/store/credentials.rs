//! Credential rows: the fields, the sealed password and OAuth2 refresh token, the last test
//! result and health; counting and re-sealing every sealed secret (passwords, refresh tokens,
//! OAuth apps' client secrets) for key rotation.

use anyhow::anyhow;
use sqlx::Row;

use super::audit::{commit_change, write_audit};
use super::{AuditEntry, Store, StoreError, StoreResult, now_ms, unique_conflict, with_pool};
use crate::domain::{CredentialFields, HealthState, RawCredential};
use crate::vault::Sealed;

/// The outcome of the latest Test Connection on a credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastTest {
    pub at: i64,
    pub ok: bool,
    pub category: String,
    pub message: String,
}

/// Processing health, as the poller last left it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Health {
    pub state: HealthState,
    pub last_success_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<i64>,
    /// Messages above the checkpoint when the last poll started (0 after it finished).
    pub backlog: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: i64,
    pub fields: CredentialFields,
    pub sealed_password: Sealed,
    /// The OAuth2 refresh token of an authorization-code sign-in, sealed to this row.
    pub sealed_refresh_token: Option<Sealed>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
    pub last_test: Option<LastTest>,
    pub health: Health,
}

const COLUMNS: &str = "id, mailbox, username, host, port, security, configuration_name, description, \
    ca_bundle, pinned_sha256, enabled, password_key_id, password_nonce, password_sealed, \
    created_at, created_by, updated_at, updated_by, last_test_at, last_test_ok, \
    last_test_category, last_test_message, health_state, last_success_at, failing_since, \
    last_error, next_attempt_at, backlog, auth_method, oauth_app_id, refresh_key_id, \
    refresh_nonce, refresh_sealed";

const CONFLICTS: &[(&str, &str, &str)] = &[
    (
        "mailbox_key",
        "mailbox",
        "A credential for this mailbox already exists (mailboxes are compared without regard to case).",
    ),
    (
        "name_key",
        "configuration_name",
        "A credential with this Configuration Name already exists (names are compared without regard to case).",
    ),
];

macro_rules! credential_from_row {
    ($r:expr) => {{
        let r = &$r;
        let id: i64 = r.try_get("id")?;
        let raw = RawCredential {
            mailbox: r.try_get("mailbox")?,
            username: r.try_get("username")?,
            host: r.try_get("host")?,
            port: r.try_get("port")?,
            security: r.try_get("security")?,
            configuration_name: r.try_get("configuration_name")?,
            description: r.try_get("description")?,
            ca_bundle: r.try_get("ca_bundle")?,
            pinned_sha256: r.try_get("pinned_sha256")?,
            enabled: r.try_get("enabled")?,
            auth_method: r.try_get("auth_method")?,
            oauth_app_id: r.try_get("oauth_app_id")?,
            ..RawCredential::default()
        };
        let fields = CredentialFields::parse(&raw)
            .map_err(|e| anyhow!("credential {id} in the database is not valid: {e}"))?;
        let last_test_at: Option<i64> = r.try_get("last_test_at")?;
        let last_test = match last_test_at {
            Some(at) => Some(LastTest {
                at,
                ok: r
                    .try_get::<Option<bool>, _>("last_test_ok")?
                    .unwrap_or(false),
                category: r
                    .try_get::<Option<String>, _>("last_test_category")?
                    .unwrap_or_default(),
                message: r
                    .try_get::<Option<String>, _>("last_test_message")?
                    .unwrap_or_default(),
            }),
            None => None,
        };
        CredentialRow {
            id,
            fields,
            sealed_password: Sealed {
                key_id: r.try_get("password_key_id")?,
                nonce: r.try_get("password_nonce")?,
                ciphertext: r.try_get("password_sealed")?,
            },
            sealed_refresh_token: {
                let key_id: String = r.try_get("refresh_key_id")?;
                match (
                    key_id.is_empty(),
                    r.try_get("refresh_nonce")?,
                    r.try_get("refresh_sealed")?,
                ) {
                    (false, Some(nonce), Some(ciphertext)) => Some(Sealed {
                        key_id,
                        nonce,
                        ciphertext,
                    }),
                    _ => None,
                }
            },
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
            updated_at: r.try_get("updated_at")?,
            updated_by: r.try_get("updated_by")?,
            last_test,
            health: Health {
                state: HealthState::parse(&r.try_get::<String, _>("health_state")?),
                last_success_at: r.try_get("last_success_at")?,
                failing_since: r.try_get("failing_since")?,
                last_error: r.try_get("last_error")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                backlog: r.try_get("backlog")?,
            },
        }
    }};
}

fn rows_to_credentials<R: Row>(
    rows: Vec<R>,
    map: impl Fn(&R) -> StoreResult<CredentialRow>,
) -> StoreResult<Vec<CredentialRow>> {
    rows.iter().map(map).collect()
}

impl Store {
    /// Inserts a credential; `seal` gets the new id (the associated data) and seals the password.
    pub async fn insert_credential(
        &self,
        f: &CredentialFields,
        seal: impl FnOnce(i64) -> Sealed,
        audit: AuditEntry,
    ) -> StoreResult<CredentialRow> {
        let now = now_ms();
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO credentials (mailbox, mailbox_key, username, host, port, security, \
                 configuration_name, name_key, description, ca_bundle, pinned_sha256, enabled, \
                 password_key_id, password_nonce, password_sealed, created_at, created_by, \
                 updated_at, updated_by, health_state, auth_method, oauth_app_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', $13, $13, $14, $15, $14, $15, 'idle', $16, $17) \
                 RETURNING id",
            )
            .bind(f.mailbox.as_str())
            .bind(f.mailbox.key())
            .bind(f.username.as_ref().map(|u| u.as_str()))
            .bind(f.host.as_str())
            .bind(i64::from(f.port.get()))
            .bind(f.security.as_str())
            .bind(f.configuration_name.as_str())
            .bind(f.configuration_name.key())
            .bind(f.description.as_str())
            .bind(f.ca_bundle.as_ref().map(|c| c.as_str()))
            .bind(f.pinned_sha256.as_ref().map(|p| p.as_str()))
            .bind(f.enabled)
            .bind(Vec::<u8>::new())
            .bind(now)
            .bind(&audit.actor)
            .bind(f.auth_method.as_str())
            .bind(f.oauth_app_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONFLICTS))?;
            let sealed = seal(id);
            sqlx::query("UPDATE credentials SET password_key_id = $1, password_nonce = $2, password_sealed = $3 WHERE id = $4")
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            write_audit!(&mut *tx, &audit.target(id))?;
            tx.commit().await?;
            id
        });
        self.get_credential(id).await
    }

    pub async fn list_credentials(&self) -> StoreResult<Vec<CredentialRow>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM credentials ORDER BY name_key, id"
            )))
            .fetch_all(pool)
            .await?;
            rows_to_credentials(rows, |r| Ok(credential_from_row!(r)))
        })
    }

    pub async fn get_credential(&self, id: i64) -> StoreResult<CredentialRow> {
        with_pool!(self, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM credentials WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(credential_from_row!(r)),
                None => Err(StoreError::NotFound),
            }
        })
    }

    /// Edits every field; with `password`, re-seals it in the same transaction (an empty
    /// `Sealed` clears it); `clear_refresh_token` forgets the OAuth2 sign-in.
    pub async fn update_credential(
        &self,
        id: i64,
        f: &CredentialFields,
        password: Option<&Sealed>,
        clear_refresh_token: bool,
        audit: AuditEntry,
    ) -> StoreResult<CredentialRow> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if clear_refresh_token {
                sqlx::query(
                    "UPDATE credentials SET refresh_key_id = '', refresh_nonce = NULL, \
                     refresh_sealed = NULL WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(sealed) = password {
                sqlx::query(
                    "UPDATE credentials SET password_key_id = $1, password_nonce = $2, \
                     password_sealed = $3 WHERE id = $4",
                )
                .bind(&sealed.key_id)
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            let done = sqlx::query(
                "UPDATE credentials SET mailbox = $1, mailbox_key = $2, username = $3, host = $4, \
                 port = $5, security = $6, configuration_name = $7, name_key = $8, description = $9, \
                 ca_bundle = $10, pinned_sha256 = $11, enabled = $12, updated_at = $13, updated_by = $14, \
                 auth_method = $16, oauth_app_id = $17 WHERE id = $15",
            )
            .bind(f.mailbox.as_str())
            .bind(f.mailbox.key())
            .bind(f.username.as_ref().map(|u| u.as_str()))
            .bind(f.host.as_str())
            .bind(i64::from(f.port.get()))
            .bind(f.security.as_str())
            .bind(f.configuration_name.as_str())
            .bind(f.configuration_name.key())
            .bind(f.description.as_str())
            .bind(f.ca_bundle.as_ref().map(|c| c.as_str()))
            .bind(f.pinned_sha256.as_ref().map(|p| p.as_str()))
            .bind(f.enabled)
            .bind(now_ms())
            .bind(&audit.actor)
            .bind(id)
            .bind(f.auth_method.as_str())
            .bind(f.oauth_app_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_conflict(e, CONFLICTS))?;
            commit_change!(tx, done, &audit.target(id));
        });
        self.get_credential(id).await
    }

    pub async fn set_credential_password(
        &self,
        id: i64,
        sealed: &Sealed,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE credentials SET password_key_id = $1, password_nonce = $2, password_sealed = $3, \
                 updated_at = $4, updated_by = $5 WHERE id = $6",
            )
            .bind(&sealed.key_id)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now_ms())
            .bind(&audit.actor)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }

    pub async fn delete_credential(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query("DELETE FROM credentials WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }

    /// Stores the outcome of a Test Connection.
    pub async fn record_test(
        &self,
        id: i64,
        test: &LastTest,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(
                "UPDATE credentials SET last_test_at = $1, last_test_ok = $2, last_test_category = $3, \
                 last_test_message = $4 WHERE id = $5",
            )
            .bind(test.at)
            .bind(test.ok)
            .bind(&test.category)
            .bind(&test.message)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            commit_change!(tx, done, &audit.target(id));
            Ok(())
        })
    }

    /// How many secrets each key id has sealed (passwords, refresh tokens, client secrets).
    pub async fn sealed_key_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let sql = SEALED
            .iter()
            .map(|s| {
                format!(
                    "SELECT {} AS k FROM {} WHERE {} <> ''",
                    s.key_id, s.table, s.key_id
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!("SELECT k, COUNT(*) AS n FROM ({sql}) AS sealed GROUP BY k ORDER BY k");
        with_pool!(self, |pool| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("k")?, r.try_get("n")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(Into::into)
        })
    }

    /// Re-seals every stored secret in one transaction: all or nothing.
    /// `reseal` gets the associated data of a secret (`credential:{id}:password`) and its sealed
    /// value; `progress` is called per secret.
    pub async fn reseal_all(
        &self,
        mut reseal: impl FnMut(&str, &Sealed) -> anyhow::Result<Sealed>,
        mut progress: impl FnMut(u64, u64),
        audit: AuditEntry,
    ) -> StoreResult<u64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut found = Vec::new();
            for s in SEALED {
                let sql = format!(
                    "SELECT id, {k} AS k, {n} AS n, {c} AS c FROM {t} WHERE {k} <> '' ORDER BY id",
                    k = s.key_id,
                    n = s.nonce,
                    c = s.sealed,
                    t = s.table
                );
                for r in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *tx)
                    .await?
                {
                    let id: i64 = r.try_get("id")?;
                    let old = Sealed {
                        key_id: r.try_get("k")?,
                        nonce: r.try_get("n")?,
                        ciphertext: r.try_get("c")?,
                    };
                    found.push((s, id, old));
                }
            }
            let total = found.len() as u64;
            for (i, (s, id, old)) in found.iter().enumerate() {
                let new = reseal(&(s.ad)(*id), old)?;
                let sql = format!(
                    "UPDATE {} SET {} = $1, {} = $2, {} = $3 WHERE id = $4",
                    s.table, s.key_id, s.nonce, s.sealed
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&new.key_id)
                    .bind(&new.nonce)
                    .bind(&new.ciphertext)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                progress(i as u64 + 1, total);
            }
            write_audit!(&mut *tx, &audit)?;
            tx.commit().await?;
            Ok(total)
        })
    }
}

/// Where a kind of sealed secret lives, and the associated data that binds it to its row.
struct SealedColumns {
    table: &'static str,
    key_id: &'static str,
    nonce: &'static str,
    sealed: &'static str,
    ad: fn(i64) -> String,
}

/// Every sealed secret of the database (an empty key id: none stored).
const SEALED: &[SealedColumns] = &[
    SealedColumns {
        table: "credentials",
        key_id: "password_key_id",
        nonce: "password_nonce",
        sealed: "password_sealed",
        ad: password_ad,
    },
    SealedColumns {
        table: "credentials",
        key_id: "refresh_key_id",
        nonce: "refresh_nonce",
        sealed: "refresh_sealed",
        ad: refresh_token_ad,
    },
    SealedColumns {
        table: "oauth_apps",
        key_id: "secret_key_id",
        nonce: "secret_nonce",
        sealed: "secret_sealed",
        ad: client_secret_ad,
    },
];

/// The associated data that binds a sealed password to its credential row.
pub fn password_ad(id: i64) -> String {
    format!("credential:{id}:password")
}

/// The associated data that binds a sealed refresh token to its credential row.
pub fn refresh_token_ad(id: i64) -> String {
    format!("credential:{id}:refresh_token")
}

/// The associated data that binds a sealed client secret to its OAuth app row.
pub fn client_secret_ad(id: i64) -> String {
    format!("oauth_app:{id}:client_secret")
}

impl Store {
    /// Stores (or, with `None`, forgets) a credential's OAuth2 refresh token.
    pub async fn set_refresh_token(&self, id: i64, sealed: Option<&Sealed>) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE credentials SET refresh_key_id = $1, refresh_nonce = $2, refresh_sealed = $3 \
                 WHERE id = $4",
            )
            .bind(sealed.map_or("", |s| s.key_id.as_str()))
            .bind(sealed.map(|s| &s.nonce))
            .bind(sealed.map(|s| &s.ciphertext))
            .bind(id)
            .execute(pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}

impl Store {
    /// Records the poller's view of a credential: state, times, last error, and how many login
    /// rejections happened in a row.
    pub async fn set_health(&self, id: i64, h: &Health, auth_failures: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE credentials SET health_state = $1, last_success_at = $2, failing_since = $3, \
                 last_error = $4, next_attempt_at = $5, auth_failures = $6, \
                 backlog = COALESCE($8, backlog) WHERE id = $7",
            )
            .bind(h.state.as_str())
            .bind(h.last_success_at)
            .bind(h.failing_since)
            .bind(&h.last_error)
            .bind(h.next_attempt_at)
            .bind(auth_failures)
            .bind(id)
            .bind(h.backlog)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Consecutive login rejections of a credential.
    pub async fn auth_failures(&self, id: i64) -> StoreResult<i64> {
        with_pool!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT auth_failures FROM credentials WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?
                    .unwrap_or(0),
            )
        })
    }
}

impl Store {
    /// Records how many messages a poll found above the checkpoint, as it starts.
    pub async fn set_backlog(&self, id: i64, backlog: i64) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE credentials SET backlog = $1 WHERE id = $2")
                .bind(backlog)
                .bind(id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }
}

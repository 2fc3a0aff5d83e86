//! Credential rows: the fields, the sealed password and OAuth2 refresh token, the last test
//! result and health; counting and re-sealing every sealed secret (passwords, refresh tokens,
//! OAuth apps' client secrets) for key rotation.

use super::audit::write_audit;
use super::rows::{Columns, Conflicts, Table, from_row, not_valid, update_row};
use super::{AuditEntry, Store, StoreError, StoreResult, with_pool};
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

const TABLE: Table = Table {
    name: "credentials",
    columns: COLUMNS,
    order: "name_key, id",
    conflicts: CONFLICTS,
};

const CONFLICTS: Conflicts = &[
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

from_row!(CredentialRow, |r| {
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
        .map_err(|e| not_valid(format!("credential {id} in the database is not valid: {e}")))?;
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
    Ok(CredentialRow {
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
    })
});

/// The columns of a credential's fields (the unique ones also as a lower-cased key).
fn columns(f: &CredentialFields) -> Columns {
    Columns::new()
        .set("mailbox", f.mailbox.as_str())
        .set("mailbox_key", f.mailbox.key())
        .set("username", f.username.as_ref().map(|u| u.as_str()))
        .set("host", f.host.as_str())
        .set("port", i64::from(f.port.get()))
        .set("security", f.security.as_str())
        .set("configuration_name", f.configuration_name.as_str())
        .set("name_key", f.configuration_name.key())
        .set("description", f.description.as_str())
        .set("ca_bundle", f.ca_bundle.as_ref().map(|c| c.as_str()))
        .set(
            "pinned_sha256",
            f.pinned_sha256.as_ref().map(|p| p.as_str()),
        )
        .set("enabled", f.enabled)
        .set("auth_method", f.auth_method.as_str())
        .set("oauth_app_id", f.oauth_app_id)
}

impl Store {
    /// Inserts a credential; `seal` gets the new id (the associated data) and seals the password.
    pub async fn insert_credential(
        &self,
        f: &CredentialFields,
        seal: impl FnOnce(i64) -> Sealed,
        audit: AuditEntry,
    ) -> StoreResult<CredentialRow> {
        let columns = columns(f)
            .set("health_state", HealthState::Idle.as_str())
            .sealed(&PASSWORD, None)
            .created_by(&audit.actor);
        let then = |id| Columns::new().sealed(&PASSWORD, Some(&seal(id)));
        let id = self.insert_sealed(&TABLE, columns, audit, then).await?;
        self.get_credential(id).await
    }

    pub async fn list_credentials(&self) -> StoreResult<Vec<CredentialRow>> {
        self.select(&TABLE, "", &[]).await
    }

    pub async fn get_credential(&self, id: i64) -> StoreResult<CredentialRow> {
        self.by_id(&TABLE, id).await
    }

    /// Edits every field; with `password`, re-seals it in the same statement (an empty
    /// `Sealed` clears it); `clear_refresh_token` forgets the OAuth2 sign-in.
    pub async fn update_credential(
        &self,
        id: i64,
        f: &CredentialFields,
        password: Option<&Sealed>,
        clear_refresh_token: bool,
        audit: AuditEntry,
    ) -> StoreResult<CredentialRow> {
        let mut columns = columns(f).updated_by(&audit.actor);
        if clear_refresh_token {
            columns = columns.sealed(&REFRESH_TOKEN, None);
        }
        if let Some(sealed) = password {
            columns = columns.sealed(&PASSWORD, Some(sealed));
        }
        self.update_audited(&TABLE, id, columns, audit).await?;
        self.get_credential(id).await
    }

    pub async fn set_credential_password(
        &self,
        id: i64,
        sealed: &Sealed,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let columns = Columns::new().sealed(&PASSWORD, Some(sealed));
        let columns = columns.updated_by(&audit.actor);
        self.update_audited(&TABLE, id, columns, audit).await
    }

    pub async fn delete_credential(&self, id: i64, audit: AuditEntry) -> StoreResult<()> {
        self.delete_audited(&TABLE, id, audit).await
    }

    /// Stores the outcome of a Test Connection.
    pub async fn record_test(
        &self,
        id: i64,
        test: &LastTest,
        audit: AuditEntry,
    ) -> StoreResult<()> {
        let columns = Columns::new()
            .set("last_test_at", test.at)
            .set("last_test_ok", test.ok)
            .set("last_test_category", test.category.as_str())
            .set("last_test_message", test.message.as_str());
        self.update_audited(&TABLE, id, columns, audit).await
    }

    /// How many secrets each key id has sealed (passwords, refresh tokens, client secrets, the
    /// PKCE verifiers of started sign-ins).
    pub async fn sealed_key_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        let sql = SEALED
            .iter()
            .map(|s| s.sql("SELECT {k} AS k FROM {t} WHERE {k} <> ''"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!("SELECT k, COUNT(*) AS n FROM ({sql}) AS sealed GROUP BY k ORDER BY k");
        self.rows(sql, &[]).await
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
        type Found = (String, String, Vec<u8>, Vec<u8>);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut found = Vec::new();
            for s in SEALED {
                let sql = s.sql(
                    "SELECT CAST({r} AS TEXT), {k}, {n}, {c} FROM {t} WHERE {k} <> '' ORDER BY {r}",
                );
                let rows = sqlx::query_as::<_, Found>(sqlx::AssertSqlSafe(sql));
                for (row, key_id, nonce, ciphertext) in rows.fetch_all(&mut *tx).await? {
                    let old = Sealed {
                        key_id,
                        nonce,
                        ciphertext,
                    };
                    found.push((s, row, old));
                }
            }
            let total = found.len() as u64;
            for (i, (s, row, old)) in found.iter().enumerate() {
                let new = reseal(&(s.ad)(row), old)?;
                let sql = s.sql(
                    "UPDATE {t} SET {k} = $1, {n} = $2, {c} = $3 WHERE CAST({r} AS TEXT) = $4",
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&new.key_id)
                    .bind(&new.nonce)
                    .bind(&new.ciphertext)
                    .bind(row)
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
pub(super) struct SealedColumns {
    table: &'static str,
    /// The column that names the row (read as text: an id or a state hash).
    row: &'static str,
    key_id: &'static str,
    nonce: &'static str,
    sealed: &'static str,
    ad: fn(&str) -> String,
}

impl SealedColumns {
    /// `template` with the names filled in: `{t}` table, `{r}` row, `{k}` key id, `{n}` nonce,
    /// `{c}` ciphertext.
    fn sql(&self, template: &str) -> String {
        template
            .replace("{t}", self.table)
            .replace("{r}", self.row)
            .replace("{k}", self.key_id)
            .replace("{n}", self.nonce)
            .replace("{c}", self.sealed)
    }
}

impl Columns {
    /// The sealed secret `at` takes `value`; `None` stores none (an empty key id).
    pub(super) fn sealed(self, at: &SealedColumns, value: Option<&Sealed>) -> Self {
        let (key_id, nonce, ciphertext) = match value {
            Some(s) => (s.key_id.as_str(), &s.nonce[..], &s.ciphertext[..]),
            None => ("", &[][..], &[][..]),
        };
        self.set(at.key_id, key_id)
            .set(at.nonce, nonce)
            .set(at.sealed, ciphertext)
    }
}

const PASSWORD: SealedColumns = SealedColumns {
    table: TABLE.name,
    row: "id",
    key_id: "password_key_id",
    nonce: "password_nonce",
    sealed: "password_sealed",
    ad: |id| format!("credential:{id}:password"),
};

const REFRESH_TOKEN: SealedColumns = SealedColumns {
    table: TABLE.name,
    row: "id",
    key_id: "refresh_key_id",
    nonce: "refresh_nonce",
    sealed: "refresh_sealed",
    ad: |id| format!("credential:{id}:refresh_token"),
};

/// An OAuth app's client secret.
pub(super) const CLIENT_SECRET: SealedColumns = SealedColumns {
    table: "oauth_apps",
    row: "id",
    key_id: "secret_key_id",
    nonce: "secret_nonce",
    sealed: "secret_sealed",
    ad: |id| format!("oauth_app:{id}:client_secret"),
};

/// A started OAuth2 sign-in's PKCE verifier (a row lives 10 minutes, but a key rotation in
/// that time must not strand it).
const SIGN_IN_VERIFIER: SealedColumns = SealedColumns {
    table: "oauth_sign_ins",
    row: "state_hash",
    key_id: "verifier_key_id",
    nonce: "verifier_nonce",
    sealed: "verifier_sealed",
    ad: |hash| format!("oauth_sign_in:{hash}:verifier"),
};

/// Every sealed secret of the database (an empty key id: none stored).
const SEALED: &[SealedColumns] = &[PASSWORD, REFRESH_TOKEN, CLIENT_SECRET, SIGN_IN_VERIFIER];

/// The associated data that binds a sealed password to its credential row.
pub fn password_ad(id: i64) -> String {
    (PASSWORD.ad)(&id.to_string())
}

/// The associated data that binds a sealed refresh token to its credential row.
pub fn refresh_token_ad(id: i64) -> String {
    (REFRESH_TOKEN.ad)(&id.to_string())
}

/// The associated data that binds a sealed client secret to its OAuth app row.
pub fn client_secret_ad(id: i64) -> String {
    (CLIENT_SECRET.ad)(&id.to_string())
}

/// The associated data that binds a sealed PKCE verifier to its sign-in row.
pub fn sign_in_verifier_ad(state_hash: &str) -> String {
    (SIGN_IN_VERIFIER.ad)(state_hash)
}

impl Store {
    /// Stores (or, with `None`, forgets) a credential's OAuth2 refresh token.
    pub async fn set_refresh_token(&self, id: i64, sealed: Option<&Sealed>) -> StoreResult<()> {
        let columns = Columns::new().sealed(&REFRESH_TOKEN, sealed);
        let done = with_pool!(self, |pool| {
            update_row!(pool, TABLE.name, &columns, id).map(|d| d.rows_affected())
        })?;
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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

//! Master key use cases: status (which key seals how many secrets) and rotation.

use serde::Serialize;

use super::{App, AppResult};
use crate::domain::Secret;
use crate::store::{AuditEntry, password_ad};
use crate::vault::Sealed;

#[derive(Debug, Serialize)]
pub struct KeyStatusRow {
    pub key_id: String,
    pub loaded: bool,
    pub primary: bool,
    pub secrets: i64,
}

#[derive(Debug, Serialize)]
pub struct KeyStatus {
    pub source: String,
    pub keys: Vec<KeyStatusRow>,
}

#[derive(Debug, Serialize)]
pub struct RotationReport {
    pub new_key_id: String,
    pub resealed: u64,
    pub retired_key_ids: Vec<String>,
}

impl App {
    /// The one way a password gets sealed: with the first key of the key file as it is now. A
    /// `keys rotate` run by another process while this one serves is noticed here, so nothing is
    /// ever sealed with a key that the file no longer holds.
    pub(crate) fn seal_password(
        &self,
        credential_id: i64,
        plain: &Secret,
    ) -> anyhow::Result<Sealed> {
        self.refresh_keys()?;
        Ok(self.sealer()(credential_id, plain))
    }

    /// Reads the key file again if another process rotated the keys.
    pub(crate) fn refresh_keys(&self) -> anyhow::Result<()> {
        if self
            .keys
            .write()
            .expect("key ring lock")
            .reload_if_changed()?
        {
            tracing::info!("the master key file changed (keys rotated): reloaded it");
        }
        Ok(())
    }

    /// Seals with the keys as loaded, for a caller that refreshed them just before (a seal
    /// that needs the row's id, known only inside the insert).
    pub(crate) fn sealer(&self) -> impl Fn(i64, &Secret) -> Sealed + '_ {
        |id, plain| {
            self.keys
                .read()
                .expect("key ring lock")
                .seal(plain, &password_ad(id))
        }
    }

    pub async fn key_status(&self) -> AppResult<KeyStatus> {
        let counts = self
            .store
            .sealed_key_counts()
            .await
            .map_err(anyhow::Error::from)?;
        let keys = self.keys.read().expect("key ring lock");
        let primary = keys.primary_id().to_string();
        let mut rows: Vec<KeyStatusRow> = keys
            .key_ids()
            .into_iter()
            .map(|id| KeyStatusRow {
                secrets: counts.iter().find(|(k, _)| *k == id).map_or(0, |(_, n)| *n),
                primary: id == primary,
                loaded: true,
                key_id: id,
            })
            .collect();
        for (id, n) in &counts {
            if !keys.has_key(id) {
                rows.push(KeyStatusRow {
                    key_id: id.clone(),
                    loaded: false,
                    primary: false,
                    secrets: *n,
                });
            }
        }
        Ok(KeyStatus {
            source: keys.source().to_string(),
            keys: rows,
        })
    }

    /// Generates a new key, re-seals every secret with it in one transaction, then retires the
    /// old keys. A crash part-way leaves the old keys in the file, so nothing becomes unreadable.
    pub async fn rotate_keys(
        &self,
        actor: &str,
        progress: impl FnMut(u64, u64),
    ) -> AppResult<RotationReport> {
        self.refresh_keys()?;
        let new_key_id = self
            .keys
            .write()
            .expect("key ring lock")
            .add_new_primary()?;
        let audit = AuditEntry::new(actor, "keys.rotate", "key")
            .summary(format!("re-sealed every secret with key {new_key_id}"))
            .details(serde_json::json!({ "new_key_id": new_key_id }));
        let reseal = |ad: &str, sealed: &Sealed| {
            let keys = self.keys.read().expect("key ring lock");
            let plain = keys
                .open(sealed, ad)
                .map_err(|e| anyhow::anyhow!("{ad}: the stored secret cannot be opened: {e}"))?;
            Ok(keys.seal(&plain, ad))
        };
        let resealed = self
            .store
            .reseal_all(reseal, progress, audit.clone())
            .await
            .map_err(anyhow::Error::from)?;
        // A server that sealed a password with the old key just before the key file changed
        // may commit it after the pass above: sweep again until no secret uses an old key, and
        // only then retire the old keys.
        for _ in 0..3 {
            let counts = self
                .store
                .sealed_key_counts()
                .await
                .map_err(anyhow::Error::from)?;
            if counts.iter().all(|(id, n)| *id == new_key_id || *n == 0) {
                break;
            }
            self.store
                .reseal_all(reseal, |_, _| {}, audit.clone())
                .await
                .map_err(anyhow::Error::from)?;
        }
        let retired_key_ids = self
            .keys
            .write()
            .expect("key ring lock")
            .retire_old_keys()?;
        Ok(RotationReport {
            new_key_id,
            resealed,
            retired_key_ids,
        })
    }
}

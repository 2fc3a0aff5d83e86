//! Master key use cases: status (which key seals how many secrets) and rotation.

use serde::Serialize;

use super::{App, AppResult};
use crate::store::AuditEntry;
use crate::vault::KeyRing;

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
    pub(crate) fn reload_keys(&self) -> anyhow::Result<()> {
        let fresh = KeyRing::load(&self.settings.data_dir, false)?;
        *self.keys.write().expect("key ring lock") = fresh;
        Ok(())
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
        let new_key_id = self
            .keys
            .write()
            .expect("key ring lock")
            .add_new_primary()?;
        let audit = AuditEntry::new(actor, "keys.rotate", "key")
            .summary(format!("re-sealed every secret with key {new_key_id}"))
            .details(serde_json::json!({ "new_key_id": new_key_id }));
        let resealed = self
            .store
            .reseal_all(
                |id, sealed| {
                    let keys = self.keys.read().expect("key ring lock");
                    let ad = super::credentials::password_ad(id);
                    let plain = keys.open(sealed, &ad).map_err(|e| {
                        anyhow::anyhow!(
                            "credential {id}: the stored password cannot be opened: {e}"
                        )
                    })?;
                    Ok(keys.seal(&plain, &ad))
                },
                progress,
                audit,
            )
            .await
            .map_err(anyhow::Error::from)?;
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

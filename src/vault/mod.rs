//! Master keys and sealed secrets. Nothing outside this module sees key material.
//!
//! A key ring holds one or more 256-bit keys; the first is the one new secrets are sealed with,
//! the others can still open what they sealed until `mailroom keys rotate` re-seals it. A key's
//! id is derived from the key itself, so a wrong key can never be mistaken for the right one.
//! Sealing is XChaCha20-Poly1305 with a random 24-byte nonce and associated data that binds the
//! sealed value to its row. Must not know about SQL, HTTP or where secrets are stored.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::domain::Secret;

/// The environment variable that can carry the keys instead of a key file.
pub const MASTER_KEY_ENV: &str = "MAILROOM_MASTER_KEY";
/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "master.key";

/// A secret as stored: which key sealed it, the nonce, and the ciphertext with its tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key {})", self.key_id)
    }
}

struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        let mut h = Sha256::new();
        h.update(b"mailroom key id v1\0");
        h.update(bytes.as_slice());
        let id = format!("k-{}", &hex::encode(h.finalize())[..12]);
        Self { id, bytes }
    }

    fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self::from_bytes(b)
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let decoded = Zeroizing::new(
            B64.decode(text.trim())
                .context("a master key must be 32 bytes in base64")?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "a master key must be 32 bytes in base64, this one has {} bytes",
                decoded.len()
            )
        })?;
        Ok(Self::from_bytes(bytes))
    }

    fn encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.bytes.as_slice()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.as_slice().into())
    }
}

/// Where the keys came from, for messages and for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Environment,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "key file {}", p.display()),
            Self::Environment => write!(f, "environment variable {MASTER_KEY_ENV}"),
        }
    }
}

/// The loaded keys: the first seals, all open.
pub struct KeyRing {
    keys: Vec<MasterKey>,
    source: KeySource,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({:?} from {})", self.key_ids(), self.source)
    }
}

/// Why a sealed value would not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("it was sealed with key {0}, which is not loaded")]
    MissingKey(String),
    #[error("it does not authenticate: it was sealed for another record, or it has been altered")]
    Tampered,
}

impl KeyRing {
    /// Keys from text: one base64 key per line or comma-separated; `#` starts a comment.
    fn parse(text: &str, source: KeySource) -> anyhow::Result<Self> {
        let keys = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(MasterKey::parse)
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("reading the master key from {source}"))?;
        if keys.is_empty() {
            bail!("{source} holds no master key");
        }
        Ok(Self { keys, source })
    }

    /// Loads the keys from `MAILROOM_MASTER_KEY` when it is set, else from the key file.
    /// With neither, and `create_if_missing`, writes a new key file (mode 0600).
    pub fn load(data_dir: &Path, create_if_missing: bool) -> anyhow::Result<Self> {
        if let Ok(value) = std::env::var(MASTER_KEY_ENV)
            && !value.trim().is_empty()
        {
            return Self::parse(&value, KeySource::Environment);
        }
        let path = data_dir.join(KEY_FILE_NAME);
        match read_key_file(&path) {
            Ok(text) => Self::parse(&text, KeySource::File(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create_if_missing => {
                let ring = Self {
                    keys: vec![MasterKey::generate()],
                    source: KeySource::File(path),
                };
                ring.write_file()?;
                tracing::info!(key = %ring.primary_id(), "created a new master key file");
                Ok(ring)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "no master key: {} does not exist and {MASTER_KEY_ENV} is not set",
                path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Reads the key file again when it changed since it was loaded (a `keys rotate` by another
    /// process): the file's first key is the one to seal with. Returns whether the keys changed.
    /// Keys from the environment cannot change while the process runs.
    pub fn reload_if_changed(&mut self) -> anyhow::Result<bool> {
        let KeySource::File(path) = &self.source else {
            return Ok(false);
        };
        let fresh = Self::parse(&read_key_file(path)?, self.source.clone())?;
        if fresh.key_ids() == self.key_ids() {
            return Ok(false);
        }
        *self = fresh;
        Ok(true)
    }

    /// A ring held only in memory (tests, tools).
    pub fn ephemeral() -> Self {
        Self {
            keys: vec![MasterKey::generate()],
            source: KeySource::Environment,
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    pub fn primary_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    pub fn has_key(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    pub fn seal(&self, plaintext: &Secret, associated_data: &str) -> Sealed {
        let key = &self.keys[0];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = key
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose().as_bytes(),
                    aad: associated_data.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    pub fn open(&self, sealed: &Sealed, associated_data: &str) -> Result<Secret, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::MissingKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 24 {
            return Err(OpenError::Tampered);
        }
        let plain = Zeroizing::new(
            key.cipher()
                .decrypt(
                    XNonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: associated_data.as_bytes(),
                    },
                )
                .map_err(|_| OpenError::Tampered)?,
        );
        let text = String::from_utf8(plain.to_vec()).map_err(|_| OpenError::Tampered)?;
        Ok(Secret::new(text))
    }

    /// Puts a newly generated key first; the old ones stay to open what they sealed.
    pub fn add_new_primary(&mut self) -> anyhow::Result<String> {
        if let KeySource::Environment = self.source {
            bail!(
                "the keys come from {MASTER_KEY_ENV}: generate a key with `mailroom keys generate`, \
                 put it first in {MASTER_KEY_ENV} (comma-separated, old keys after it), restart, \
                 then run `mailroom keys rotate` again to re-seal"
            );
        }
        self.keys.insert(0, MasterKey::generate());
        self.write_file()?;
        Ok(self.primary_id().to_string())
    }

    /// Drops every key but the primary (after all secrets were re-sealed with it).
    pub fn retire_old_keys(&mut self) -> anyhow::Result<Vec<String>> {
        let retired: Vec<String> = self.keys.drain(1..).map(|k| k.id).collect();
        if let KeySource::File(_) = self.source {
            self.write_file()?;
        }
        Ok(retired)
    }

    /// Writes the ring to its key file atomically, readable by the owner only.
    fn write_file(&self) -> anyhow::Result<()> {
        let KeySource::File(path) = &self.source else {
            bail!("keys from {MASTER_KEY_ENV} are not written to disk");
        };
        let mut text = Zeroizing::new(String::from(
            "# Mailroom master keys: the first seals new secrets, the others open old ones.\n\
             # Keep a copy somewhere safe: without it the stored mailbox passwords are lost.\n",
        ));
        for k in &self.keys {
            text.push_str(&k.encoded());
            text.push('\n');
        }
        let tmp = path.with_extension("key.tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(())
    }
}

/// Generates a key for `MAILROOM_MASTER_KEY` (base64 of 32 random bytes) and its id.
pub fn generate_key_text() -> (String, Zeroizing<String>) {
    let k = MasterKey::generate();
    (k.id.clone(), k.encoded())
}

/// The key file's text; refused when other users may read or change it (as ssh refuses a
/// private key), since anyone who reads it opens every stored password.
fn read_key_file(path: &Path) -> std::io::Result<Zeroizing<String>> {
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} can be read or changed by other users (mode {mode:04o}); it must be \
                     readable by its owner only: run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    Ok(text)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let ring = KeyRing::ephemeral();
        let s = ring.seal(&Secret::new("p@ss w0rd".into()), "credential:1:password");
        assert_eq!(
            ring.open(&s, "credential:1:password").unwrap().expose(),
            "p@ss w0rd"
        );
        assert!(matches!(
            ring.open(&s, "credential:2:password"),
            Err(OpenError::Tampered)
        ));
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert!(matches!(
            ring.open(&t, "credential:1:password"),
            Err(OpenError::Tampered)
        ));
        let other = KeyRing::ephemeral();
        assert!(matches!(
            other.open(&s, "credential:1:password"),
            Err(OpenError::MissingKey(_))
        ));
    }

    #[test]
    fn nonces_differ_per_seal() {
        let ring = KeyRing::ephemeral();
        let p = Secret::new("same".into());
        assert_ne!(ring.seal(&p, "a").nonce, ring.seal(&p, "a").nonce);
    }
}

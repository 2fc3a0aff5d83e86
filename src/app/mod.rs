//! Use cases shared by the web API, the admin UI and the CLI: they behave the same because
//! they all call these functions.
//!
//! Owns: opening the store and the key ring together, the error kinds callers branch on, and
//! the output shapes (`…View`) that API and CLI print. Must not know about HTTP or clap.

mod access;
mod aliases;
mod cases;
mod connection_test;
mod credentials;
mod exceptions;
mod keys;
mod oauth_apps;
mod oauth_sign_in;
mod oauth_tokens;
mod originals;
pub mod processing;
pub mod providers;
mod reference;
mod routing;
mod sessions;
mod test_throttle;

use std::sync::RwLock;

use anyhow::{Context, bail};

use crate::config::Settings;
use crate::domain::{ValidationError, ValidationErrors};
use crate::store::{Store, StoreError};
use crate::vault::KeyRing;

pub use access::{FirstStart, NewToken, Principal};
pub use aliases::AliasView;
pub use cases::{CaseView, RetryOutcome};
pub use connection_test::{ConnectionOverrides, ConnectionTestView, TestedTarget};
pub use credentials::{CredentialView, HealthView, LastTestView};
pub use exceptions::ExceptionView;
pub use keys::{KeyStatus, KeyStatusRow, RotationReport};
pub use oauth_apps::{OAuthAppView, checklist as oauth_app_checklist};
pub use oauth_tokens::SignInStart;
pub use originals::{PruneReport, ReparseOutcome, ReparseReport};
pub use providers::{DetectionView, ProviderView};
pub use reference::{ImportError, ImportItem, ImportReport, NamedView, RecordView, RowError};
pub use routing::{Named as RoutedNamed, RouteRequest, RouteView};
pub use sessions::AdminSession;
pub use test_throttle::TestThrottle;

/// What went wrong, in the kinds the edges map to statuses and exit codes.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("{message}")]
    Conflict {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A mail server failed or refused us (not our fault, not the caller's).
    #[error("{0}")]
    Upstream(String),
    /// The caller did this too often; `message` says when to try again.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<ValidationErrors> for AppError {
    fn from(e: ValidationErrors) -> Self {
        Self::Validation(e)
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        Self::Validation(e.into())
    }
}

impl AppError {
    fn from_store(e: StoreError, what: &'static str) -> Self {
        match e {
            StoreError::Conflict { field, message } => Self::Conflict {
                field: Some(field),
                message,
            },
            StoreError::NotFound => Self::NotFound(what),
            StoreError::Other(e) => Self::Other(e),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// Store errors in the kinds callers branch on: `.app_err("credential")` names what was not
/// found (instead of `.map_err(|e| AppError::from_store(e, "credential"))` at every call).
pub(crate) trait StoreResultExt<T> {
    fn app_err(self, what: &'static str) -> AppResult<T>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn app_err(self, what: &'static str) -> AppResult<T> {
        self.map_err(|e| AppError::from_store(e, what))
    }
}

/// The application: the store and the keys that open its secrets.
pub struct App {
    store: Store,
    keys: std::sync::Arc<RwLock<KeyRing>>,
    /// OAuth2 token sources per credential (access tokens in memory) and pending sign-ins.
    oauth: oauth_tokens::OAuthState,
    settings: Settings,
    /// One lock per credential: a worker's poll and a "poll now" never process the same
    /// folder at the same time.
    poll_locks:
        std::sync::Mutex<std::collections::HashMap<i64, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Batch size, message size limit, intervals (from `MAILROOM_*` variables at start).
    processing: processing::ProcessingOptions,
    metrics: crate::metrics::Metrics,
    /// Connection tests per actor and minute.
    test_throttle: TestThrottle,
    /// Turns at Argon2 work (sign-in checks, new administrators).
    password_work: std::sync::Arc<tokio::sync::Semaphore>,
    /// Failed sign-ins written to the audit log in the current hour (unauthenticated requests
    /// cannot fill the log).
    failed_sign_in_audits: sessions::AuditAllowance,
}

impl App {
    /// Opens the database and the key ring, and checks that the keys open what is stored.
    ///
    /// A new key file is written only when nothing sealed exists yet (a new installation);
    /// a missing or wrong key for existing secrets is an error, never a fresh key.
    pub async fn open(settings: Settings) -> anyhow::Result<Self> {
        if let Err(e) = &settings.deny_networks {
            bail!("{e}");
        }
        if let Err(e) = &settings.web {
            bail!("{e}");
        }
        let store = match &settings.database_url {
            Some(url) => Store::connect(url).await?,
            None => {
                create_private_dir(&settings.data_dir)?;
                Store::open_sqlite(&settings.sqlite_path()).await?
            }
        };
        let sealed = store
            .sealed_key_counts()
            .await
            .map_err(anyhow::Error::from)?;
        let new_installation = sealed.is_empty();
        if new_installation {
            create_private_dir(&settings.data_dir)?;
        }
        let keys = KeyRing::load(&settings.data_dir, new_installation)?;
        let missing: Vec<&str> = sealed
            .iter()
            .filter(|(id, _)| !keys.has_key(id))
            .map(|(id, _)| id.as_str())
            .collect();
        if !missing.is_empty() {
            bail!(
                "the master key does not match this database: its secrets are sealed with key {}, \
                 but {} holds key {}. Start with the key this database was created with \
                 (MAILROOM_MASTER_KEY or the key file); a different key cannot open them",
                missing.join(", "),
                keys.source(),
                keys.key_ids().join(", ")
            );
        }
        Ok(Self {
            store,
            keys: std::sync::Arc::new(RwLock::new(keys)),
            oauth: Default::default(),
            settings,
            poll_locks: Default::default(),
            processing: processing::ProcessingOptions::default(),
            metrics: Default::default(),
            test_throttle: TestThrottle::default(),
            password_work: password_work_permits(),
            failed_sign_in_audits: Default::default(),
        })
    }

    /// Replaces the processing settings read from the environment (tests, embedding).
    pub fn with_processing_options(mut self, options: processing::ProcessingOptions) -> Self {
        self.processing = options;
        self
    }

    pub fn processing_options(&self) -> &processing::ProcessingOptions {
        &self.processing
    }

    /// The counters behind `/metrics`.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// An app over an existing store with the given keys (tests).
    pub fn with_parts(store: Store, keys: KeyRing, settings: Settings) -> Self {
        Self {
            store,
            keys: std::sync::Arc::new(RwLock::new(keys)),
            oauth: Default::default(),
            settings,
            poll_locks: Default::default(),
            processing: processing::ProcessingOptions::default(),
            metrics: Default::default(),
            test_throttle: TestThrottle::default(),
            password_work: password_work_permits(),
            failed_sign_in_audits: Default::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub async fn close(&self) {
        self.store.close().await;
    }
}

fn password_work_permits() -> std::sync::Arc<tokio::sync::Semaphore> {
    std::sync::Arc::new(tokio::sync::Semaphore::new(access::PASSWORD_WORK_AT_ONCE))
}

/// Creates the data directory readable by its owner only, or tightens an existing one to that
/// (it holds the key file and the database).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("making {} private (mode 0700)", dir.display()))?;
        }
    }
    Ok(())
}

/// Unix milliseconds as RFC 3339 (UTC), for output.
pub fn iso_time(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

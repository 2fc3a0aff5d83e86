//! Settings: built-in defaults < `MAILROOM_*` environment < command-line flags.
//!
//! Owns the names and defaults of every setting. Must not open files or sockets.

use std::path::PathBuf;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "mailroom-data";

#[derive(Debug, Clone)]
pub struct Settings {
    /// Holds the SQLite database and the master key file of the embedded default.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite in the data directory.
    pub database_url: Option<String>,
}

impl Settings {
    pub fn new(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Self {
            data_dir,
            database_url: database_url.filter(|u| !u.trim().is_empty()),
        }
    }

    /// The SQLite file of the embedded default.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("mailroom.db")
    }
}

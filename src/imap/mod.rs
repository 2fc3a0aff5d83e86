//! The only place that speaks IMAP: connecting with implicit TLS, STARTTLS or plain text,
//! verifying certificates (system roots, a credential's CA bundle, a pinned fingerprint),
//! logging in, and the step-by-step Test Connection probe.
//!
//! Owns every use of async-imap and rustls; their types never appear in this module's public
//! API. Must not touch the database or know about HTTP or the CLI. Every network call runs
//! under a timeout, and a connection is thrown away after any timeout. The password is
//! written straight onto the socket (async-imap logs the commands it encodes) and is never
//! put in a report, a log line or an error.

mod mail;
mod probe;
mod tls;
mod wire;

pub use mail::{ConnectError, FolderStatus, MailSession, MailTarget, ensure_all_returned};
pub use probe::{Category, InboxCounts, ProbeOptions, ProbeReport, ProbeRequest, Step, probe};
pub use tls::CertificateInfo;

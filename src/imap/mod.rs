//! The only place that speaks IMAP: connecting with implicit TLS, STARTTLS or plain text,
//! verifying certificates (system roots, a credential's CA bundle, a pinned fingerprint),
//! logging in, and the step-by-step Test Connection probe.
//!
//! Owns every use of async-imap and rustls; their types never appear in this module's public
//! API. Must not touch the database or know about HTTP or the CLI. Every network call runs
//! under a timeout, and a connection is thrown away after any timeout. The password is
//! written straight onto the socket (async-imap logs the commands it encodes) and is never
//! put in a report, a log line or an error: every piece of server text this module hands out
//! was read by `reply` through a `words::Redactor` (the password and its base64 / SASL PLAIN
//! forms), and every failure is put into words by `words` for the probe and processing alike.

mod mail;
mod probe;
mod reply;
mod tls;
mod wire;
mod words;

pub use mail::{BodyFetch, ConnectError, FolderStatus, MailError, MailSession, MailTarget};
pub use probe::{Category, InboxCounts, ProbeOptions, ProbeReport, ProbeRequest, Step, probe};
pub use tls::CertificateInfo;

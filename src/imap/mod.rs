//! The only place that speaks IMAP: connecting with implicit TLS, STARTTLS or plain text,
//! verifying certificates (system roots, a credential's CA bundle, a pinned fingerprint),
//! logging in with a password or an OAuth2 access token, the step-by-step Test Connection
//! probe, and the processing session — over one connection path (`connect::Dialer`).
//!
//! Owns every use of async-imap and rustls; their types never appear in this module's public
//! API. Must not touch the database, fetch OAuth2 tokens itself (a `TokenSource` is plugged in)
//! or know about HTTP or the CLI. Every network call runs under a timeout, and a connection is
//! thrown away after any timeout. Secrets are written straight onto the socket (async-imap
//! logs the commands it encodes) and never put in a report, a log line or an error: every
//! piece of server text this module hands out was read by `reply` through a
//! `words::Redactor` (the password or token and every encoding of it sent), and every failure
//! is put into words by `words` for the probe and processing alike.

mod connect;
mod login;
mod mail;
mod probe;
mod reply;
mod sasl;
mod steps;
mod tls;
mod wire;
mod words;

pub use connect::Target;
pub use login::{AccessToken, Credentials, Login, TokenFailure, TokenFuture, TokenSource};
pub use mail::{BodyFetch, ConnectError, FolderStatus, MailError, MailSession, MailTarget};
pub use probe::{Category, InboxCounts, ProbeOptions, ProbeReport, ProbeRequest, probe};
pub use steps::Step;
pub use tls::CertificateInfo;

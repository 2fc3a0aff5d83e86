//! Raw message → parsed → routed → case, exactly once; the poller around one step.
//!
//! Owns: reading a raw RFC 5322 message into the fields a case needs (`parse`), deciding
//! whether a message is automatic mail that must never get a reply (`automatic`). Must not speak
//! IMAP (that is `imap`) or hold SQL (that is `store`).

pub mod automatic;
pub mod parse;
pub mod sync;

pub use automatic::automatic_reason;
pub use parse::{Attachment, ParseError, ParsedEmail};

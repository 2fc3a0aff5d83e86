//! Raw message → parsed → routed → case, exactly once; the poller around one step.
//!
//! Owns: reading a raw RFC 5322 message into the fields a case needs (`parse`, with the
//! addresses of address headers from `address`, and the body text, HTML and attachments from a
//! walk of the whole MIME tree in `body`), the stored form of an original (`original`: zstd),
//! deciding whether a message is automatic mail that must never get a reply (`automatic`). Must
//! not speak IMAP (that is `imap`) or hold SQL (that is `store`).

mod address;
pub mod automatic;
pub mod body;
pub mod original;
pub mod parse;
pub mod sync;

pub use automatic::automatic_reason;
pub use original::{Original, OriginalError};
pub use parse::{Attachment, ParseError, ParsedEmail};

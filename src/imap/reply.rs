//! One IMAP command and its answer, read by us rather than by async-imap's command helpers
//! (which turn a NO or BAD answer to FETCH or STORE into success with zero items and keep no
//! server text): the tagged status with the server's own words, the untagged data callers
//! need (capabilities, EXISTS, UIDVALIDITY, UIDNEXT, SEARCH, FETCH items), and a failed read
//! in words. Shared by the probe and the processing session.
//!
//! Every server line that leaves this module went through the caller's `Redactor`. No timeouts
//! here (callers wrap every read in one); after a `ReadFailure` the connection is unusable.

use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response, ResponseCode, Status};
use tokio::io::AsyncWriteExt;

use super::wire::BoxIo;
use super::words::{self, Redactor};

pub type Client = async_imap::Client<BoxIo>;

/// One message of a FETCH answer.
#[derive(Debug)]
pub struct FetchItem {
    pub uid: u32,
    pub size: Option<u32>,
    /// `BODY[]` (or `RFC822`), when asked for.
    pub body: Option<Vec<u8>>,
}

/// What a tagged command got back.
#[derive(Debug, Default)]
pub struct Reply {
    pub ok: bool,
    /// The tagged line without its tag ("NO [AUTHENTICATIONFAILED] Authentication failed."),
    /// redacted and printable.
    pub text: String,
    /// Untagged status lines (ALERTs, warnings, `* NO …`) seen before it, at most 20.
    pub untagged: Vec<String>,
    /// A `* BYE` line, when the server said goodbye.
    pub bye: Option<String>,
    pub capabilities: Vec<String>,
    pub exists: Option<u32>,
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub search: Vec<u32>,
    pub fetched: Vec<FetchItem>,
    /// A `+` continuation arrived (only returned when asked for).
    pub continuation: bool,
    /// The text after a `+` (a SASL challenge, base64), redacted and printable.
    pub challenge: Option<String>,
}

impl Reply {
    /// Everything the server said in words: untagged status lines, then the tagged one.
    pub fn said(&self) -> Vec<String> {
        let mut lines = self.untagged.clone();
        if !self.text.is_empty() {
            lines.push(self.text.clone());
        }
        lines
    }

    /// `said()` as one string for a message.
    pub fn server_words(&self) -> String {
        self.said().join(" / ")
    }
}

/// Reading an answer failed: what happened in words, and what the server said before.
#[derive(Debug)]
pub struct ReadFailure {
    pub message: String,
    pub server: Option<String>,
}

/// Writes one line (CR LF added) and flushes. The caller zeroes a line that holds a secret;
/// nothing here copies it.
pub async fn send(client: &mut Client, line: &str) -> std::io::Result<()> {
    let stream = client.get_mut();
    stream.write_all(line.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

/// The first line of a response as the server wrote it, redacted and printable (the owner
/// buffer can hold more than this response).
fn first_line(owner: &[u8], r: &Redactor) -> String {
    let end = owner
        .iter()
        .position(|b| *b == b'\n')
        .map_or(owner.len(), |i| i + 1);
    r.line(&owner[..end])
}

/// Reads responses into `reply` until the tagged answer to `tag` (or a `+` continuation, when
/// `want_continuation`). `what` names the answer for messages ("its answer to SELECT INBOX",
/// "an email"); `target` is `host:port`. What arrived before a failure stays in `reply`.
pub async fn read_into(
    client: &mut Client,
    tag: &str,
    want_continuation: bool,
    what: &str,
    target: &str,
    r: &Redactor,
    reply: &mut Reply,
) -> Result<(), ReadFailure> {
    loop {
        let next = client.read_response().await.map_err(|e| ReadFailure {
            message: words::read_failure(&e, target, what, r),
            server: (!reply.untagged.is_empty()).then(|| reply.untagged.join("\n")),
        })?;
        let Some(resp) = next else {
            return Err(ReadFailure {
                message: match &reply.bye {
                    Some(b) => format!(
                        "{target} closed the connection instead of sending {what}; it said: {b}"
                    ),
                    None => format!(
                        "{target} closed the connection unexpectedly, before sending {what}."
                    ),
                },
                server: reply.bye.clone(),
            });
        };
        // Not computed for FETCH items, which can be large.
        let first_line = || first_line(resp.borrow_owner(), r);
        match resp.parsed() {
            Response::Done { tag: t, status, .. } if t.0 == tag => {
                reply.ok = matches!(status, Status::Ok);
                let raw = first_line();
                reply.text = raw
                    .strip_prefix(tag)
                    .map(|s| s.trim_start().to_string())
                    .unwrap_or(raw);
                return Ok(());
            }
            Response::Continue(_) if want_continuation => {
                reply.continuation = true;
                let line = first_line();
                let text = line.strip_prefix('+').unwrap_or(&line).trim();
                reply.challenge = (!text.is_empty()).then(|| text.to_string());
                return Ok(());
            }
            Response::Capabilities(c) => {
                reply.capabilities = c
                    .iter()
                    .map(|c| match c {
                        async_imap::imap_proto::Capability::Imap4rev1 => "IMAP4rev1".to_string(),
                        async_imap::imap_proto::Capability::Auth(a) => format!("AUTH={a}"),
                        async_imap::imap_proto::Capability::Atom(a) => a.to_string(),
                    })
                    .map(|c| r.clean(&c))
                    .collect();
            }
            Response::MailboxData(MailboxDatum::Exists(n)) => reply.exists = Some(*n),
            Response::MailboxData(MailboxDatum::Search(v)) => reply.search.extend(v),
            Response::Fetch(_, attrs) => {
                let mut item = FetchItem {
                    uid: 0,
                    size: None,
                    body: None,
                };
                for a in attrs {
                    match a {
                        AttributeValue::Uid(u) => item.uid = *u,
                        AttributeValue::Rfc822Size(s) => item.size = Some(*s),
                        AttributeValue::BodySection {
                            section: None,
                            data,
                            ..
                        }
                        | AttributeValue::Rfc822(data) => {
                            item.body = Some(data.as_deref().unwrap_or_default().to_vec());
                        }
                        _ => {}
                    }
                }
                // Without a UID it is a flag change the server volunteered, not an answer.
                if item.uid != 0 && (item.size.is_some() || item.body.is_some()) {
                    reply.fetched.push(item);
                }
            }
            Response::Data {
                status, outcome, ..
            } => {
                match &outcome.code {
                    Some(ResponseCode::UidValidity(v)) => reply.uidvalidity = Some(*v),
                    Some(ResponseCode::UidNext(n)) => reply.uidnext = Some(*n),
                    _ => {}
                }
                if matches!(status, Status::Bye) {
                    reply.bye = Some(first_line());
                } else if reply.untagged.len() < 20 {
                    reply.untagged.push(first_line());
                }
            }
            _ => {}
        }
    }
}

/// `read_into` a fresh `Reply`.
pub async fn read_reply(
    client: &mut Client,
    tag: &str,
    want_continuation: bool,
    what: &str,
    target: &str,
    r: &Redactor,
) -> Result<Reply, ReadFailure> {
    let mut reply = Reply::default();
    read_into(client, tag, want_continuation, what, target, r, &mut reply).await?;
    Ok(reply)
}

/// In IDLE: waits up to `wait` for the mailbox to change (EXISTS, EXPUNGE, RECENT or FETCH).
/// Returns whether it did; `* BYE` or a closed connection is a failure.
pub async fn wait_for_change(
    client: &mut Client,
    wait: std::time::Duration,
    target: &str,
    r: &Redactor,
) -> Result<bool, ReadFailure> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let next = match tokio::time::timeout_at(deadline, client.read_response()).await {
            Err(_) => return Ok(false),
            Ok(next) => next,
        };
        let what = "a mailbox update in IDLE";
        let resp = next
            .map_err(|e| ReadFailure {
                message: words::read_failure(&e, target, what, r),
                server: None,
            })?
            .ok_or_else(|| ReadFailure {
                message: format!("{target} closed the connection during IDLE."),
                server: None,
            })?;
        match resp.parsed() {
            Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
            | Response::Expunge(_)
            | Response::Fetch(..) => return Ok(true),
            Response::Data {
                status: Status::Bye,
                ..
            } => {
                let line = first_line(resp.borrow_owner(), r);
                return Err(ReadFailure {
                    message: format!("{target} ended the connection during IDLE; it said: {line}"),
                    server: Some(line),
                });
            }
            _ => {}
        }
    }
}

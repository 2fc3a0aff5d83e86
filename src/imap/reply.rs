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
        // The first line of a status response, as the server wrote it (the owner buffer can
        // hold more than this response). Not computed for FETCH items, which can be large.
        let first_line = || {
            let owner: &[u8] = resp.borrow_owner();
            let end = owner
                .iter()
                .position(|b| *b == b'\n')
                .map_or(owner.len(), |i| i + 1);
            r.line(&owner[..end])
        };
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

/// How to send the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// `LOGIN "user" "password"`.
    Login,
    /// `AUTHENTICATE PLAIN`, with the credentials on the same line when the server offers
    /// SASL-IR, else after its `+`.
    Plain { sasl_ir: bool },
}

impl LoginMethod {
    /// The one the server's capabilities allow: LOGIN unless LOGINDISABLED (or the values
    /// cannot be quoted), else AUTHENTICATE PLAIN when offered. `prefer_plain` picks PLAIN
    /// whenever it is offered. `None`: no password login is possible.
    pub fn choose(caps: &[String], user: &str, password: &str, prefer_plain: bool) -> Option<Self> {
        let has = |c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
        let plain = has("AUTH=PLAIN").then_some(Self::Plain {
            sasl_ir: has("SASL-IR"),
        });
        let quotable = !user.contains(['\r', '\n', '\0']) && !password.contains(['\r', '\n', '\0']);
        let login = (!has("LOGINDISABLED") && quotable).then_some(Self::Login);
        if prefer_plain {
            plain.or(login)
        } else {
            login.or(plain)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "LOGIN",
            Self::Plain { .. } => "AUTHENTICATE PLAIN",
        }
    }
}

/// Sends the login and reads the server's answer. The password is written straight onto the
/// socket (async-imap's encoder logs what it sends) and every copy of it is zeroed.
pub async fn log_in(
    client: &mut Client,
    tag: &str,
    method: LoginMethod,
    user: &str,
    password: &crate::domain::Secret,
    target: &str,
    r: &Redactor,
) -> Result<Reply, ReadFailure> {
    use base64::Engine as _;
    use zeroize::Zeroize;
    let what = "its answer to the login";
    let sent = |e: std::io::Error| ReadFailure {
        message: format!("Sending the login to {target} failed: {e}."),
        server: None,
    };
    match method {
        LoginMethod::Login => {
            let (Some(u), Some(mut p)) = (
                super::wire::quoted(user),
                super::wire::quoted(password.expose()),
            ) else {
                return Err(ReadFailure {
                    message: "The login name or password contains a line break, which LOGIN cannot carry.".into(),
                    server: None,
                });
            };
            let mut line = format!("{tag} LOGIN {u} {p}");
            p.zeroize();
            let w = send(client, &line).await;
            line.zeroize();
            w.map_err(sent)?;
        }
        LoginMethod::Plain { sasl_ir } => {
            let mut raw = Vec::with_capacity(user.len() + password.len_bytes() + 2);
            raw.push(0u8);
            raw.extend_from_slice(user.as_bytes());
            raw.push(0);
            raw.extend_from_slice(password.expose().as_bytes());
            let mut b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
            raw.zeroize();
            let result = async {
                if sasl_ir {
                    let mut line = format!("{tag} AUTHENTICATE PLAIN {b64}");
                    let w = send(client, &line).await;
                    line.zeroize();
                    return w.map_err(sent).map(|()| None);
                }
                send(client, &format!("{tag} AUTHENTICATE PLAIN"))
                    .await
                    .map_err(sent)?;
                let first = read_reply(client, tag, true, what, target, r).await?;
                if !first.continuation {
                    return Ok(Some(first)); // refused before the credentials were asked for
                }
                send(client, &b64).await.map_err(sent).map(|()| None)
            }
            .await;
            b64.zeroize();
            if let Some(answer) = result? {
                return Ok(answer);
            }
        }
    }
    read_reply(client, tag, false, what, target, r).await
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
                let owner: &[u8] = resp.borrow_owner();
                let end = owner
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(owner.len(), |i| i + 1);
                let line = r.line(&owner[..end]);
                return Err(ReadFailure {
                    message: format!("{target} ended the connection during IDLE; it said: {line}"),
                    server: Some(line),
                });
            }
            _ => {}
        }
    }
}

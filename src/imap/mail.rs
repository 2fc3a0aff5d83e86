//! The processing connection: connect and log in exactly as Test Connection does (the one
//! `connect::Dialer`: password or token, mechanism from the capabilities), then SELECT a
//! folder, search, fetch sizes and bodies with BODY.PEEK[] (fetching never marks mail read),
//! flag committed mail \Seen, and IDLE.
//!
//! Every command is sent and its answer read by `reply`, not by async-imap's command helpers
//! (which turn a NO or BAD answer to FETCH or STORE into success with zero items): a refusal
//! keeps the server's own words, and a FETCH says exactly which UIDs came back. Every error
//! leaving this file is in words (`words`) and every piece of server text in it went through
//! the session's `Redactor`, so no password or token can reach health, the exception log or a log
//! line. Every call runs under a timeout; after a timeout or a `MailError` the session must be
//! dropped. async-imap and rustls types stay inside.

use std::future::Future;
use std::time::Duration;

use super::connect::{Dialer, Target};
use super::login::Credentials;
use super::probe::Category;
use super::reply::{self, Client, Reply};
use super::steps::Steps;
use super::wire;
use super::words::Redactor;
use crate::config::IpNetwork;

/// Where to connect for processing, with the step timeout and the deny-list.
#[derive(Debug, Clone)]
pub struct MailTarget {
    pub target: Target,
    pub timeout: Duration,
    pub deny: Vec<IpNetwork>,
}

/// A selected folder's identity and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderStatus {
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub exists: u32,
}

/// Why connecting or logging in failed, in words; `rejected` means the server refused the
/// password or token (the caller backs off harder and eventually pauses the credential).
/// `category` is Test Connection's for the same failure (`AuthTokenRejected`: a fresh token
/// may help once; `TokenFailed`: the token source failed).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub message: String,
    pub rejected: bool,
    pub category: Category,
}

/// A step of an open session failed, in words; the session must be dropped.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct MailError {
    pub message: String,
}

impl From<reply::ReadFailure> for MailError {
    fn from(f: reply::ReadFailure) -> Self {
        Self { message: f.message }
    }
}

/// What a FETCH of bodies brought back.
#[derive(Debug, Default)]
pub struct BodyFetch {
    pub bodies: Vec<(u32, Vec<u8>)>,
    /// The server's own words when it did not answer OK, or warned (`* NO …`) meanwhile.
    pub server_said: Option<String>,
    /// Reading broke off (the session is unusable); `bodies` holds what arrived before.
    pub broken: Option<MailError>,
}

async fn within<T>(
    limit: Duration,
    on_timeout: impl FnOnce() -> String,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| on_timeout())
}

fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

/// A logged-in IMAP session for processing one credential's folder.
pub struct MailSession {
    client: Client,
    timeout: Duration,
    /// `host:port`, for messages.
    target: String,
    redactor: Redactor,
    tags: u32,
    pub idle_supported: bool,
}

impl MailSession {
    /// Connects and logs in the way Test Connection does (the same `Dialer`), with a password
    /// (`&Secret`), a `Login`, or a token source.
    pub async fn connect(
        t: &MailTarget,
        credentials: impl Into<Credentials>,
    ) -> Result<Self, ConnectError> {
        let creds = credentials.into();
        let mut d = Dialer::new(&t.target, &t.deny, Steps::new(t.timeout, None), &creds);
        let client = match d.open(&creds).await {
            Ok(c) => c,
            Err(f) => {
                let mut message = f.sentence();
                if d.steps.failed_step() == Some("login") {
                    message = format!(
                        "Logging in to {} as {} failed: {message}",
                        t.target.shown(),
                        t.target.login
                    );
                }
                return Err(ConnectError {
                    message: d.redactor.clean(&message),
                    rejected: f.category.is_rejection(),
                    category: f.category,
                });
            }
        };
        let mut me = Self {
            client,
            timeout: t.timeout,
            target: t.target.shown(),
            redactor: d.redactor,
            tags: 0,
            idle_supported: false,
        };
        let caps = me.capabilities().await.map_err(|e| ConnectError {
            message: e.message,
            rejected: false,
            category: Category::ProtocolError,
        })?;
        me.idle_supported = caps.iter().any(|c| c.eq_ignore_ascii_case("IDLE"));
        Ok(me)
    }

    fn next_tag(&mut self) -> String {
        self.tags += 1;
        format!("M{}", self.tags)
    }

    /// Sends `cmd` and reads its answer into `reply` within `limit`; what arrived before a
    /// failure stays in `reply`. `what` names the answer for messages.
    async fn run_into(
        &mut self,
        cmd: &str,
        what: &str,
        limit: Duration,
        reply: &mut Reply,
    ) -> Result<(), MailError> {
        let tag = self.next_tag();
        self.exchange(&tag, &format!("{tag} {cmd}"), false, what, limit, reply)
            .await
    }

    /// Sends `line` and reads the answer tagged `tag` (or a `+` continuation, when
    /// `want_continuation`) into `reply` within `limit`.
    async fn exchange(
        &mut self,
        tag: &str,
        line: &str,
        want_continuation: bool,
        what: &str,
        limit: Duration,
        reply: &mut Reply,
    ) -> Result<(), MailError> {
        let target = &self.target;
        let client = &mut self.client;
        let r = &self.redactor;
        let cmd = line.strip_prefix(tag).map_or(line, str::trim_start);
        let exchange = async {
            reply::send(client, line).await.map_err(|e| MailError {
                message: format!("Sending {cmd} to {target} failed: {e}."),
            })?;
            reply::read_into(client, tag, want_continuation, what, target, r, reply)
                .await
                .map_err(MailError::from)
        };
        within(
            limit,
            || format!("{target} did not finish {what} within {} s.", secs(limit)),
            exchange,
        )
        .await
        .map_err(|message| MailError { message })?
    }

    /// A command with a short answer, under the step timeout.
    async fn simple(&mut self, cmd: &str) -> Result<Reply, MailError> {
        let mut reply = Reply::default();
        let what = format!("its answer to {cmd}");
        self.run_into(cmd, &what, self.timeout, &mut reply).await?;
        Ok(reply)
    }

    /// `simple`, answered OK; any other answer is an error in the words of `refused(target,
    /// what the server said)`.
    async fn simple_ok(
        &mut self,
        cmd: &str,
        refused: impl FnOnce(&str, String) -> String,
    ) -> Result<Reply, MailError> {
        let reply = self.simple(cmd).await?;
        if reply.ok {
            return Ok(reply);
        }
        Err(MailError {
            message: refused(&self.target, reply.server_words()),
        })
    }

    async fn capabilities(&mut self) -> Result<Vec<String>, MailError> {
        let refused = |t: &str, said| format!("{t} refused the CAPABILITY command: {said}.");
        Ok(self.simple_ok("CAPABILITY", refused).await?.capabilities)
    }

    /// SELECT (read-write: flags are set after commit).
    pub async fn select(&mut self, folder: &str) -> Result<FolderStatus, MailError> {
        let Some(name) = wire::quoted(folder) else {
            return Err(MailError {
                message: format!("The folder name {folder:?} cannot be sent to the server."),
            });
        };
        let refused = |t: &str, said| format!("{folder} could not be opened: {t} answered {said}.");
        let reply = self.simple_ok(&format!("SELECT {name}"), refused).await?;
        let uidvalidity = reply.uidvalidity.ok_or_else(|| MailError {
            message: format!(
                "{} opened {folder} but sent no UIDVALIDITY, so its messages cannot be told apart safely.",
                self.target
            ),
        })?;
        Ok(FolderStatus {
            uidvalidity,
            uidnext: reply.uidnext,
            exists: reply.exists.unwrap_or(0),
        })
    }

    /// UIDs matching a search, sorted.
    pub async fn search(&mut self, query: &str) -> Result<Vec<u32>, MailError> {
        let cmd = format!("UID SEARCH {query}");
        let refused = |t: &str, said| format!("{t} refused the search {cmd}: {said}.");
        let reply = self.simple_ok(&cmd, refused).await?;
        let mut uids = reply.search;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// RFC822.SIZE of each UID in `set` the server returned (a refusal returns fewer).
    pub async fn sizes(&mut self, set: &str) -> Result<Vec<(u32, u64)>, MailError> {
        let mut reply = Reply::default();
        self.run_into(
            &format!("UID FETCH {set} (UID RFC822.SIZE)"),
            "the sizes of the emails",
            self.timeout * 3,
            &mut reply,
        )
        .await?;
        Ok(reply
            .fetched
            .into_iter()
            .filter_map(|f| Some((f.uid, u64::from(f.size?))))
            .collect())
    }

    /// The raw bytes of each UID in `set` that the server returned, fetched with BODY.PEEK[]
    /// (does not set \Seen). Never fails as a whole: a refusal or a broken read is reported
    /// with what did arrive.
    pub async fn bodies(&mut self, set: &str) -> BodyFetch {
        let mut reply = Reply::default();
        let outcome = self
            .run_into(
                &format!("UID FETCH {set} (UID BODY.PEEK[])"),
                "an email",
                self.timeout * 6,
                &mut reply,
            )
            .await;
        let said = reply.server_words();
        let warned = !reply.ok || reply.untagged.iter().any(|l| !l.starts_with("* OK"));
        BodyFetch {
            bodies: reply
                .fetched
                .into_iter()
                .filter_map(|f| Some((f.uid, f.body?)))
                .collect(),
            server_said: (outcome.is_ok() && warned && !said.is_empty()).then_some(said),
            broken: outcome.err(),
        }
    }

    /// Flags every UID in `set` \Seen in one command. `Ok(Some(words))`: the server refused.
    pub async fn mark_seen(&mut self, set: &str) -> Result<Option<String>, MailError> {
        let mut reply = Reply::default();
        self.run_into(
            &format!("UID STORE {set} +FLAGS.SILENT (\\Seen)"),
            "its answer to UID STORE",
            self.timeout * 3,
            &mut reply,
        )
        .await?;
        Ok((!reply.ok).then(|| reply.server_words()))
    }

    /// Waits in IDLE up to `wait` for the server to announce a change. Returns the session and
    /// whether something changed. Servers without IDLE just sleep.
    pub async fn idle(mut self, wait: Duration) -> Result<(Self, bool), MailError> {
        if !self.idle_supported {
            tokio::time::sleep(wait).await;
            return Ok((self, false));
        }
        let tag = self.next_tag();
        let limit = self.timeout;
        let mut started = Reply::default();
        let (line, what) = (format!("{tag} IDLE"), "its answer to IDLE");
        self.exchange(&tag, &line, true, what, limit, &mut started)
            .await?;
        if !started.continuation {
            // The server refused IDLE after all: wait without it.
            self.idle_supported = false;
            tokio::time::sleep(wait).await;
            return Ok((self, false));
        }
        let changed =
            reply::wait_for_change(&mut self.client, wait, &self.target, &self.redactor).await?;
        let what = "its answer to DONE";
        self.exchange(&tag, "DONE", false, what, limit, &mut Reply::default())
            .await?;
        Ok((self, changed))
    }

    pub async fn logout(mut self) {
        let _ = self.simple("LOGOUT").await;
    }
}

//! The processing connection: connect (TLS, STARTTLS or plain, same trust rules as Test
//! Connection), log in (AUTHENTICATE PLAIN, or LOGIN where PLAIN is not offered), SELECT a
//! folder, search, fetch sizes and bodies with BODY.PEEK[] (fetching never marks mail read),
//! flag committed mail \Seen, and IDLE.
//!
//! Every command is sent and its answer read by `reply`, not by async-imap's command helpers
//! (which turn a NO or BAD answer to FETCH or STORE into success with zero items): a refusal
//! keeps the server's own words, and a FETCH says exactly which UIDs came back. Every error
//! leaving this file is in words (`words`) and every piece of server text in it went through
//! the session's `Redactor`, so the password cannot reach health, the exception log or a log
//! line. Every call runs under a timeout; after a timeout or a `MailError` the session must be
//! dropped. async-imap and rustls types stay inside.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};

use super::reply::{self, Client, LoginMethod, Reply};
use super::tls::{Connector, Trust, server_name};
use super::wire::{self, BoxIo};
use super::words::{self, Redactor};
use crate::config::IpNetwork;
use crate::domain::{Secret, Security};

/// Where and how to connect for processing.
#[derive(Debug, Clone)]
pub struct MailTarget {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub login: String,
    pub ca_bundle: Option<String>,
    pub pinned_sha256: Option<String>,
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
/// password (the caller backs off harder and eventually pauses the credential).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    pub message: String,
    pub rejected: bool,
}

fn fail(message: impl Into<String>) -> ConnectError {
    ConnectError {
        message: message.into(),
        rejected: false,
    }
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
    pub async fn connect(t: &MailTarget, password: &Secret) -> Result<Self, ConnectError> {
        let limit = t.timeout;
        let target = match t.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", t.host, t.port),
            _ => format!("{}:{}", t.host, t.port),
        };
        let r = Redactor::new(&t.login, password);
        let timed_out = {
            let target = target.clone();
            move |what: &str| {
                let what = what.to_string();
                let target = target.clone();
                move || format!("{what} {target} timed out after {} s.", secs(limit))
            }
        };
        let addrs: Vec<SocketAddr> = within(
            limit,
            timed_out("Looking up"),
            tokio::net::lookup_host((t.host.as_str(), t.port)),
        )
        .await
        .map_err(fail)?
        .map_err(|e| fail(format!("{} could not be looked up in DNS: {e}.", t.host)))?
        .filter(|a| !t.deny.iter().any(|n| n.denies(a.ip())))
        .collect();
        let Some(addr) = addrs.first() else {
            return Err(fail(format!(
                "{} resolves to no address that may be connected to (the deny-list MAILROOM_DENY_NETWORKS blocks the others).",
                t.host
            )));
        };
        let tcp = within(
            limit,
            timed_out("Connecting to"),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .map_err(fail)?
        .map_err(|e| fail(format!("Connecting to {target} failed: {e}.")))?;
        let _ = tcp.set_nodelay(true);
        let trust = Trust {
            ca_bundle: t.ca_bundle.clone(),
            pinned_sha256: t.pinned_sha256.clone(),
        };
        let shown = target.clone();
        let tls = |stream: BoxIo| async {
            let connector = Connector::new(&trust).map_err(fail)?;
            let name = server_name(&t.host).map_err(fail)?;
            let s = within(
                limit,
                timed_out("The TLS handshake with"),
                connector.connector.connect(name, stream),
            )
            .await
            .map_err(fail)?
            .map_err(|e| {
                fail(format!(
                    "The TLS handshake with {shown} failed: {e}. Test the connection for details."
                ))
            })?;
            Ok::<BoxIo, ConnectError>(Box::new(s))
        };
        let stream: BoxIo = match t.security {
            Security::Tls => tls(Box::new(tcp)).await?,
            _ => Box::new(tcp),
        };
        let mut client = async_imap::Client::new(stream);
        greeting(&mut client, &target, limit, &r).await?;
        let mut me = Self {
            client,
            timeout: limit,
            target,
            redactor: r,
            tags: 0,
            idle_supported: false,
        };
        if t.security == Security::Starttls {
            let reply = me.simple("STARTTLS").await.map_err(|e| fail(e.message))?;
            if !reply.ok {
                return Err(fail(format!(
                    "{} refused STARTTLS: {}. Test the connection for details.",
                    me.target,
                    reply.server_words()
                )));
            }
            let upgraded = tls(me.client.into_inner()).await?;
            me.client = async_imap::Client::new(upgraded);
        }
        let caps = me.capabilities().await.map_err(|e| fail(e.message))?;
        me.log_in(t, &caps, password).await?;
        let caps = me.capabilities().await.map_err(|e| fail(e.message))?;
        me.idle_supported = caps.iter().any(|c| c.eq_ignore_ascii_case("IDLE"));
        Ok(me)
    }

    async fn log_in(
        &mut self,
        t: &MailTarget,
        caps: &[String],
        password: &Secret,
    ) -> Result<(), ConnectError> {
        let failed = format!("Logging in to {} as {} failed:", self.target, t.login);
        let Some(method) = LoginMethod::choose(caps, &t.login, password.expose(), true) else {
            let encrypted = t.security != Security::None;
            return Err(fail(
                match words::login_unavailable(caps, encrypted, &self.target) {
                    Some(refusal) => format!("{failed} {}", refusal.sentence(None)),
                    None => format!(
                        "{failed} the login name or password contains a line break, which this server's LOGIN cannot carry (it does not offer AUTHENTICATE PLAIN)."
                    ),
                },
            ));
        };
        let tag = self.next_tag();
        let target = self.target.clone();
        let reply = within(
            self.timeout,
            || {
                format!(
                    "{target} did not answer the login within {} s.",
                    secs(self.timeout)
                )
            },
            reply::log_in(
                &mut self.client,
                &tag,
                method,
                &t.login,
                password,
                &self.target,
                &self.redactor,
            ),
        )
        .await
        .map_err(fail)?
        .map_err(|f| fail(format!("{failed} {}", f.message)))?;
        if reply.ok {
            return Ok(());
        }
        let refusal = words::login_refused(&reply.said(), &self.target, &t.login);
        Err(ConnectError {
            message: format!("{failed} {}", refusal.sentence(Some(&reply.server_words()))),
            rejected: refusal.rejected(),
        })
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
        let target = &self.target;
        let client = &mut self.client;
        let r = &self.redactor;
        let exchange = async {
            reply::send(client, &format!("{tag} {cmd}"))
                .await
                .map_err(|e| MailError {
                    message: format!("Sending {cmd} to {target} failed: {e}."),
                })?;
            reply::read_into(client, &tag, false, what, target, r, reply)
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

    async fn capabilities(&mut self) -> Result<Vec<String>, MailError> {
        let reply = self.simple("CAPABILITY").await?;
        if !reply.ok {
            return Err(MailError {
                message: format!(
                    "{} refused the CAPABILITY command: {}.",
                    self.target,
                    reply.server_words()
                ),
            });
        }
        Ok(reply.capabilities)
    }

    /// SELECT (read-write: flags are set after commit).
    pub async fn select(&mut self, folder: &str) -> Result<FolderStatus, MailError> {
        let Some(name) = wire::quoted(folder) else {
            return Err(MailError {
                message: format!("The folder name {folder:?} cannot be sent to the server."),
            });
        };
        let reply = self.simple(&format!("SELECT {name}")).await?;
        if !reply.ok {
            return Err(MailError {
                message: format!(
                    "{folder} could not be opened: {} answered {}.",
                    self.target,
                    reply.server_words()
                ),
            });
        }
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
        let reply = self.simple(&cmd).await?;
        if !reply.ok {
            return Err(MailError {
                message: format!(
                    "{} refused the search {cmd}: {}.",
                    self.target,
                    reply.server_words()
                ),
            });
        }
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
        let target = self.target.clone();
        let late = |what: &'static str| {
            let target = target.clone();
            move || format!("{target} did not answer {what} within {} s.", secs(limit))
        };
        let started = within(limit, late("IDLE"), async {
            reply::send(&mut self.client, &format!("{tag} IDLE"))
                .await
                .map_err(|e| MailError {
                    message: format!("Sending IDLE to {target} failed: {e}."),
                })?;
            reply::read_reply(
                &mut self.client,
                &tag,
                true,
                "its answer to IDLE",
                &target,
                &self.redactor,
            )
            .await
            .map_err(MailError::from)
        })
        .await
        .map_err(|message| MailError { message })??;
        if !started.continuation {
            // The server refused IDLE after all: wait without it.
            self.idle_supported = false;
            tokio::time::sleep(wait).await;
            return Ok((self, false));
        }
        let changed =
            reply::wait_for_change(&mut self.client, wait, &target, &self.redactor).await?;
        within(limit, late("DONE"), async {
            reply::send(&mut self.client, "DONE")
                .await
                .map_err(|e| MailError {
                    message: format!("Sending DONE to {target} failed: {e}."),
                })?;
            reply::read_reply(
                &mut self.client,
                &tag,
                false,
                "its answer to DONE",
                &target,
                &self.redactor,
            )
            .await
            .map_err(MailError::from)
        })
        .await
        .map_err(|message| MailError { message })??;
        Ok((self, changed))
    }

    pub async fn logout(mut self) {
        let _ = self.simple("LOGOUT").await;
    }
}

/// Reads the server's greeting: `* OK` or `* PREAUTH` go on; `* BYE` or anything unreadable
/// is an error in words.
async fn greeting(
    client: &mut Client,
    target: &str,
    limit: Duration,
    r: &Redactor,
) -> Result<(), ConnectError> {
    let first = within(
        limit,
        || format!("{target} sent no greeting within {} s.", secs(limit)),
        client.read_response(),
    )
    .await
    .map_err(fail)?
    .map_err(|e| fail(words::read_failure(&e, target, "its greeting", r)))?;
    let Some(resp) = first else {
        return Err(fail(format!(
            "{target} closed the connection before its greeting."
        )));
    };
    if let Response::Data {
        status: Status::Bye,
        ..
    } = resp.parsed()
    {
        let owner: &[u8] = resp.borrow_owner();
        let end = owner
            .iter()
            .position(|b| *b == b'\n')
            .map_or(owner.len(), |i| i + 1);
        return Err(fail(format!(
            "{target} refused the connection at once: {}",
            r.line(&owner[..end])
        )));
    }
    Ok(())
}

//! The processing connection: connect (TLS, STARTTLS or plain, same trust rules as Test
//! Connection), log in, SELECT a folder, find new UIDs, fetch sizes and bodies in batches with
//! BODY.PEEK[] (fetching never marks mail read), flag a committed batch \Seen, and IDLE.
//!
//! Every call runs under a timeout; after a timeout or any error the session must be dropped
//! (async-imap leaves a half-read answer behind). async-imap and rustls types stay inside.
//! Quirk (async-imap issue #95): a NO/BAD answer to FETCH or STORE arrives as success with zero
//! items, so callers check that every UID they asked for came back.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::StreamExt;

use super::tls::{Connector, Trust, server_name};
use super::wire::BoxIo;
use crate::config::IpNetwork;
use crate::domain::{Secret, Security};

type Session = async_imap::Session<BoxIo>;

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

/// Why connecting or logging in failed; `rejected` means the server refused the login (the
/// caller backs off harder and eventually pauses the credential).
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

async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| anyhow!("{what} timed out after {} s", limit.as_secs()))
}

struct PlainAuth<'a> {
    login: &'a str,
    password: &'a Secret,
}

impl async_imap::Authenticator for PlainAuth<'_> {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        let mut r = Vec::with_capacity(self.login.len() + self.password.len_bytes() + 2);
        r.push(0);
        r.extend_from_slice(self.login.as_bytes());
        r.push(0);
        r.extend_from_slice(self.password.expose().as_bytes());
        r
    }
}

/// A logged-in IMAP session for processing one credential's folder.
pub struct MailSession {
    session: Session,
    timeout: Duration,
    pub idle_supported: bool,
}

impl MailSession {
    pub async fn connect(t: &MailTarget, password: &Secret) -> Result<Self, ConnectError> {
        let limit = t.timeout;
        let addrs: Vec<SocketAddr> = within(
            limit,
            "DNS lookup",
            tokio::net::lookup_host((t.host.as_str(), t.port)),
        )
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(format!("{}: {e}", t.host)))?
        .filter(|a| !t.deny.iter().any(|n| n.denies(a.ip())))
        .collect();
        let Some(addr) = addrs.first() else {
            return Err(fail(format!(
                "{} resolves to no address that may be connected to",
                t.host
            )));
        };
        let tcp = within(limit, "TCP connect", tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("connecting to {}:{}: {e}", t.host, t.port)))?;
        let _ = tcp.set_nodelay(true);
        let trust = Trust {
            ca_bundle: t.ca_bundle.clone(),
            pinned_sha256: t.pinned_sha256.clone(),
        };
        let tls = |stream: BoxIo| async {
            let connector = Connector::new(&trust).map_err(fail)?;
            let name = server_name(&t.host).map_err(fail)?;
            let s = within(
                limit,
                "TLS handshake",
                connector.connector.connect(name, stream),
            )
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("TLS with {}:{}: {e}", t.host, t.port)))?;
            Ok::<BoxIo, ConnectError>(Box::new(s))
        };
        let stream: BoxIo = match t.security {
            Security::Tls => tls(Box::new(tcp)).await?,
            _ => Box::new(tcp),
        };
        let mut client = async_imap::Client::new(stream);
        let greeting = within(limit, "server greeting", client.read_response())
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("reading the greeting: {e}")))?;
        if greeting.is_none() {
            return Err(fail("the server closed the connection before its greeting"));
        }
        if t.security == Security::Starttls {
            within(
                limit,
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("STARTTLS: {e}")))?;
            let upgraded = tls(client.into_inner()).await?;
            client = async_imap::Client::new(upgraded);
        }
        let auth = PlainAuth {
            login: &t.login,
            password,
        };
        let session = match within(limit, "login", client.authenticate("PLAIN", auth)).await {
            Err(e) => return Err(fail(e.to_string())),
            Ok(Ok(s)) => s,
            Ok(Err((e, _))) => {
                let text = e.to_string();
                return Err(ConnectError {
                    rejected: matches!(e, async_imap::error::Error::No(_)),
                    message: format!("login as {} failed: {text}", t.login),
                });
            }
        };
        let mut me = Self {
            session,
            timeout: limit,
            idle_supported: false,
        };
        let caps = within(limit, "CAPABILITY", me.session.capabilities())
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("CAPABILITY: {e}")))?;
        me.idle_supported = caps.has_str("IDLE");
        Ok(me)
    }

    /// SELECT (read-write: flags are set after commit).
    pub async fn select(&mut self, folder: &str) -> anyhow::Result<FolderStatus> {
        let mailbox = within(self.timeout, "SELECT", self.session.select(folder))
            .await?
            .with_context(|| format!("SELECT {folder}"))?;
        let uidvalidity = mailbox
            .uid_validity
            .ok_or_else(|| anyhow!("the server sent no UIDVALIDITY for {folder}"))?;
        Ok(FolderStatus {
            uidvalidity,
            uidnext: mailbox.uid_next,
            exists: mailbox.exists,
        })
    }

    /// UIDs matching a search, sorted.
    pub async fn search(&mut self, query: &str) -> anyhow::Result<Vec<u32>> {
        let found = within(self.timeout, "UID SEARCH", self.session.uid_search(query))
            .await?
            .with_context(|| format!("UID SEARCH {query}"))?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// RFC822.SIZE of each UID in `set`.
    pub async fn sizes(&mut self, set: &str) -> anyhow::Result<Vec<(u32, u64)>> {
        let timeout = self.timeout * 3;
        let session = &mut self.session;
        within(timeout, "UID FETCH sizes", async {
            let mut stream = session.uid_fetch(set, "(UID RFC822.SIZE)").await?;
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                let f = item?;
                if let (Some(uid), Some(size)) = (f.uid, f.size) {
                    out.push((uid, u64::from(size)));
                }
            }
            anyhow::Ok(out)
        })
        .await?
    }

    /// The raw bytes of each UID in `set`, fetched with BODY.PEEK[] (does not set \Seen).
    pub async fn bodies(&mut self, set: &str) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
        let timeout = self.timeout * 6;
        let session = &mut self.session;
        within(timeout, "UID FETCH bodies", async {
            let mut stream = session.uid_fetch(set, "(UID BODY.PEEK[])").await?;
            let mut out = Vec::new();
            while let Some(item) = stream.next().await {
                let f = item?;
                if let Some(uid) = f.uid {
                    out.push((uid, f.body().map(<[u8]>::to_vec).unwrap_or_default()));
                }
            }
            anyhow::Ok(out)
        })
        .await?
    }

    /// Flags every UID in `set` \Seen in one command.
    pub async fn mark_seen(&mut self, set: &str) -> anyhow::Result<()> {
        let timeout = self.timeout * 3;
        let session = &mut self.session;
        within(timeout, "UID STORE", async {
            let mut stream = session.uid_store(set, "+FLAGS.SILENT (\\Seen)").await?;
            while let Some(item) = stream.next().await {
                item?;
            }
            anyhow::Ok(())
        })
        .await?
    }

    /// Waits in IDLE up to `wait` for the server to announce a change. Returns the session and
    /// whether something changed. Servers without IDLE just sleep.
    pub async fn idle(mut self, wait: Duration) -> anyhow::Result<(Self, bool)> {
        if !self.idle_supported {
            tokio::time::sleep(wait).await;
            return Ok((self, false));
        }
        let timeout = self.timeout;
        let mut handle = self.session.idle();
        within(timeout, "IDLE", handle.init()).await??;
        let (fut, _stop) = handle.wait_with_timeout(wait);
        let outcome = within(wait + timeout, "IDLE wait", fut).await??;
        let changed = matches!(
            outcome,
            async_imap::extensions::idle::IdleResponse::NewData(_)
        );
        let session = within(timeout, "DONE", handle.done()).await??;
        self.session = session;
        Ok((self, changed))
    }

    pub async fn logout(mut self) {
        let _ = within(self.timeout, "LOGOUT", self.session.logout()).await;
    }
}

/// Checks that every UID asked for came back (see the module note on async-imap #95).
pub fn ensure_all_returned(asked: &[u32], got: &[u32]) -> anyhow::Result<()> {
    let missing: Vec<u32> = asked.iter().copied().filter(|u| !got.contains(u)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        bail!(
            "the server did not return UIDs {missing:?} (expunged meanwhile, or the command failed)"
        )
    }
}

//! The one way to a logged-in IMAP connection, for Test Connection and processing alike:
//! DNS → deny-list → TCP → TLS (or STARTTLS) → greeting → CAPABILITY → (token) → login, each a
//! timed step of `Steps`, with what was learned on the way kept in `Facts`. The probe adds its
//! EXAMINE and LOGOUT; processing takes the client as its session.
//!
//! Owns the order of the connection steps, their words and categories. Must not send a secret
//! before the server allows a login (LOGINDISABLED, no mechanism for it), choose a mechanism
//! the server did not announce, or reuse a connection after a timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use super::login::{Credentials, Login};
use super::probe::Category;
use super::reply::{self, Client, Reply};
use super::sasl::{self, Mechanism, Peer};
use super::steps::{Fail, Steps};
use super::tls::{self, CertificateInfo, Connector, Trust, handshake_failure, speaks_tls};
use super::wire::{self, BoxIo, FirstLine, Recording};
use super::words::{self, Redactor};
use crate::config::IpNetwork;
use crate::domain::{CredentialFields, Secret, Security};

/// Where and how to connect: built from a credential (or form values) for Test Connection
/// and processing alike. The secret is passed separately.
#[derive(Debug, Clone)]
pub struct Target {
    /// A DNS name in ASCII form or an IP literal.
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The IMAP login name (`user=` of XOAUTH2: the mailbox).
    pub login: String,
    pub ca_bundle: Option<String>,
    /// Lowercase hex SHA-256 of the one server certificate to accept.
    pub pinned_sha256: Option<String>,
}

impl From<&CredentialFields> for Target {
    fn from(f: &CredentialFields) -> Self {
        Self {
            host: f.host.as_str().to_string(),
            port: f.port.get(),
            security: f.security,
            login: f.login_name().to_string(),
            ca_bundle: f.ca_bundle.as_ref().map(|c| c.as_str().to_string()),
            pinned_sha256: f.pinned_sha256.as_ref().map(|p| p.as_str().to_string()),
        }
    }
}

impl Target {
    /// `host:port` (`[v6]:port`), for messages.
    pub fn shown(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// What the connection learned, also when a later step failed.
#[derive(Debug, Default)]
pub struct Facts {
    /// The address connected to.
    pub address: Option<String>,
    /// "TLSv1.3, TLS13_AES_256_GCM_SHA384".
    pub tls: Option<String>,
    /// The server's certificate, also when it was rejected.
    pub certificate: Option<CertificateInfo>,
    pub capabilities: Vec<String>,
    /// The greeting line.
    pub greeting: Option<String>,
}

/// One connection attempt: the target, its steps and facts, and the redactor for everything
/// the server says (it learns a fetched token's forms before the token is sent).
pub struct Dialer<'a> {
    pub target: &'a Target,
    deny: &'a [IpNetwork],
    pub steps: Steps,
    pub facts: Facts,
    pub redactor: Redactor,
}

impl<'a> Dialer<'a> {
    pub fn new(
        target: &'a Target,
        deny: &'a [IpNetwork],
        steps: Steps,
        creds: &Credentials,
    ) -> Self {
        let mut redactor = Redactor::empty();
        if let Credentials::Login(login) = creds {
            redactor.add(&target.login, &target.host, target.port, login);
        }
        Self {
            target,
            deny,
            steps,
            facts: Facts::default(),
            redactor,
        }
    }

    fn shown(&self) -> String {
        self.target.shown()
    }

    /// Connects and logs in. On success the client is logged in (or was PREAUTH).
    pub async fn open(&mut self, creds: &Credentials) -> Result<Client, Fail> {
        let target = self.shown();
        let addrs = self.dns().await?;
        let (tcp, addr) = self.tcp(&addrs).await?;
        self.facts.address = Some(addr.to_string());
        let mut client = match self.target.security {
            Security::Tls => {
                let stream = self.tls_handshake(Box::new(tcp), true).await?;
                self.greeting(stream, addr, false).await?
            }
            Security::None | Security::Starttls => self.greeting(Box::new(tcp), addr, true).await?,
        };
        let mut caps = self.capability(&mut client).await?;
        if self.target.security == Security::Starttls {
            if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
                self.steps.record(
                    "starttls",
                    false,
                    "STARTTLS is not in the server's capabilities",
                );
                return Err(Fail::new(
                    Category::StarttlsUnsupported,
                    format!("The server at {target} does not offer STARTTLS, so the connection cannot be secured on this port."),
                )
                .hint("Use Secure Connection with implicit TLS (usually port 993). Turning security off would send the password in clear text.")
                .server(caps.join(" ")));
            }
            let stream = self.starttls(client).await?;
            let stream = self.tls_handshake(stream, false).await?;
            client = async_imap::Client::new(stream);
            caps = self.capability(&mut client).await?;
        }
        let preauth = self
            .facts
            .greeting
            .as_deref()
            .is_some_and(|g| g.to_ascii_uppercase().starts_with("* PREAUTH"));
        if preauth {
            // RFC 3501 §7.1.4: already authenticated (a tunnel or trusted connection).
            let what = if creds.is_token() {
                "no token"
            } else {
                "the password"
            };
            self.steps.record(
                "login",
                true,
                format!("already logged in by the server (PREAUTH); {what} was not sent"),
            );
            return Ok(client);
        }
        let fetched;
        let login = match creds {
            Credentials::Login(l) => l,
            Credentials::TokenSource(source) => {
                // Fetch a token only when the server can take one (a grant may rotate the
                // refresh token: not for nothing).
                self.mechanism(&caps, None)?;
                let token = self
                    .steps
                    .run(
                        "token",
                        |limit| {
                            Fail::new(
                                Category::Timeout,
                                format!("Getting an access token took longer than {limit}."),
                            )
                            .hint("The OAuth2 token endpoint did not answer in time; try again, or check the OAuth app's token URL.")
                        },
                        async {
                            let t = source.access_token().await.map_err(|f| {
                                let fail = Fail::new(Category::TokenFailed, f.message);
                                match f.hint {
                                    Some(h) => fail.hint(h),
                                    None => fail,
                                }
                            })?;
                            let detail = t.detail.clone();
                            Ok((t.token, detail))
                        },
                    )
                    .await?;
                fetched = Login::Token {
                    access_token: token,
                };
                self.redactor.add(
                    &self.target.login,
                    &self.target.host,
                    self.target.port,
                    &fetched,
                );
                &fetched
            }
        };
        self.login(&mut client, &caps, login).await?;
        Ok(client)
    }

    /// The mechanism for a password (`Some`) or a token (`None`), or why none can be used
    /// (recorded as a failed login step; nothing was sent).
    fn mechanism(&mut self, caps: &[String], password: Option<&Secret>) -> Result<Mechanism, Fail> {
        let target = self.shown();
        let encrypted = self.target.security != Security::None;
        let chosen = match password {
            Some(p) => Mechanism::for_password(caps, &self.target.login, p.expose()),
            None => Mechanism::for_token(caps),
        };
        if let Some(m) = chosen {
            return Ok(m);
        }
        let f = match password {
            None => Fail::from(words::token_unavailable(caps, encrypted, &target))
                .server(caps.join(" ")),
            Some(_) => match words::login_unavailable(caps, encrypted, &target) {
                Some(refusal) => Fail::from(refusal).server(caps.join(" ")),
                None => Fail::new(
                    Category::ProtocolError,
                    "The login name or password contains a line break, which this server's LOGIN cannot carry (it does not offer AUTHENTICATE PLAIN).",
                ),
            },
        };
        self.steps.record("login", false, f.message.clone());
        Err(f)
    }

    async fn login(
        &mut self,
        client: &mut Client,
        caps: &[String],
        login: &Login,
    ) -> Result<(), Fail> {
        let password = match login {
            Login::Password(p) => Some(p),
            Login::Token { .. } => None,
        };
        let mechanism = self.mechanism(caps, password)?;
        let target = self.shown();
        let user = self.target.login.clone();
        let peer = Peer {
            user: &self.target.login,
            host: &self.target.host,
            port: self.target.port,
            shown: &target,
        };
        let r = &self.redactor;
        self.steps
            .run("login", no_answer(&target, "the login"), async {
                let reply = sasl::authenticate(client, "L1", mechanism, login, &peer, r)
                    .await
                    .map_err(Fail::from)?;
                login_outcome(reply, &peer, &user, mechanism)
            })
            .await
    }

    async fn dns(&mut self) -> Result<Vec<SocketAddr>, Fail> {
        let host = self.target.host.clone();
        let port = self.target.port;
        let deny = self.deny.to_vec();
        let host_t = host.clone();
        self.steps.run(
            "dns",
            |limit| {
                Fail::new(
                    Category::Timeout,
                    format!("Looking up {host_t} in DNS timed out after {limit}."),
                )
                .hint("The DNS servers of the machine running Mailroom did not answer; try again, or enter the server's IP address.")
            },
            async move {
                let (addrs, detail) = if let Ok(ip) = host.parse::<IpAddr>() {
                    (vec![SocketAddr::new(ip, port)], format!("{ip} (an IP address, no lookup)"))
                } else {
                    let found = tokio::net::lookup_host((host.as_str(), port)).await;
                    let mut addrs: Vec<SocketAddr> = match found {
                        Ok(a) => a.collect(),
                        Err(e) => {
                            let text = e.to_string();
                            // getaddrinfo's EAI_AGAIN: no answer now, not "no such name".
                            if text.to_ascii_lowercase().contains("temporary failure") {
                                return Err(Fail::new(
                                    Category::DnsNotFound,
                                    format!("{host} could not be looked up: DNS did not answer ({text})."),
                                )
                                .hint("The DNS servers of the machine running Mailroom are not reachable; try again, or enter the server's IP address."));
                            }
                            Vec::new()
                        }
                    };
                    let mut seen = std::collections::HashSet::new();
                    addrs.retain(|a| seen.insert(*a));
                    if addrs.is_empty() {
                        return Err(Fail::new(Category::DnsNotFound, "No such host is known").hint(
                            format!("{host} does not exist in DNS. Check the spelling of Host (for example imap.example.com)."),
                        ));
                    }
                    let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                    let detail = format!("{host} → {}", list.join(", "));
                    (addrs, detail)
                };
                let mut allowed = Vec::new();
                let mut blocked = Vec::new();
                for a in addrs {
                    match deny.iter().find_map(|n| n.matched_form(a.ip()).map(|f| (n, f))) {
                        Some((n, form)) => blocked.push((a.ip(), *n, form)),
                        None => allowed.push(a),
                    }
                }
                if allowed.is_empty() {
                    let (ip, net, form) = blocked[0];
                    let ip = if form == ip { ip.to_string() } else { format!("{ip} (an IPv6 form of {form})") };
                    return Err(Fail::new(
                        Category::BlockedAddress,
                        format!("{host} is {ip}, which is in the blocked range {net}: Mailroom does not connect there."),
                    )
                    .hint("This address range is on the deny-list (MAILROOM_DENY_NETWORKS, and MAILROOM_DENY_PRIVATE for private ranges) that protects the network Mailroom runs in, such as cloud metadata services. Enter the mail server's public host name."));
                }
                let detail = if blocked.is_empty() {
                    detail
                } else {
                    let skipped: Vec<String> = blocked.iter().map(|(ip, _, _)| ip.to_string()).collect();
                    format!("{detail} (not connecting to {}: on the deny-list)", skipped.join(", "))
                };
                Ok((allowed, detail))
            },
        )
        .await
    }

    async fn tcp(&mut self, addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), Fail> {
        let target = self.shown();
        let addrs = addrs.to_vec();
        let t = target.clone();
        self.steps.run(
            "tcp",
            |limit| {
                Fail::new(
                    Category::Timeout,
                    format!("Connecting to {t} timed out after {limit}."),
                )
                .hint("Nothing answered: the host may be down, or a firewall drops the traffic to this port. Check Host and Port.")
            },
            async move {
                let mut last: Option<std::io::Error> = None;
                for a in &addrs {
                    match TcpStream::connect(a).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            return Ok(((s, *a), format!("connected to {a}")));
                        }
                        Err(e) => {
                            // Prefer the most telling error: refused beats unreachable.
                            let keep = match &last {
                                Some(prev) => prev.kind() != std::io::ErrorKind::ConnectionRefused,
                                None => true,
                            };
                            if keep {
                                last = Some(e);
                            }
                        }
                    }
                }
                let e = last.expect("at least one address");
                Err(match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Fail::new(
                        Category::ConnectionRefused,
                        format!("The connection to {target} was refused: nothing accepts connections on that port."),
                    )
                    .hint("Check Port (IMAP over TLS is usually 993, plain IMAP and STARTTLS 143) and that the server runs."),
                    std::io::ErrorKind::TimedOut => Fail::new(
                        Category::Timeout,
                        format!("Connecting to {target} timed out."),
                    ),
                    _ => Fail::new(
                        Category::Unreachable,
                        format!("{target} cannot be reached from this server: {e}."),
                    )
                    .hint("There is no network route to that address; check Host, or the network and firewall of the machine running Mailroom."),
                })
            },
        )
        .await
    }

    /// A TLS handshake over `stream`: at connect (`implicit`) or after STARTTLS.
    async fn tls_handshake(&mut self, stream: BoxIo, implicit: bool) -> Result<BoxIo, Fail> {
        let trust = Trust {
            ca_bundle: self.target.ca_bundle.clone(),
            pinned_sha256: self.target.pinned_sha256.clone(),
        };
        let connector =
            Connector::new(&trust).map_err(|e| Fail::new(Category::ProtocolError, e))?;
        let name = tls::server_name(&self.target.host)
            .map_err(|e| Fail::new(Category::ProtocolError, e))?;
        let target = self.shown();
        let recording = Recording::new(stream);
        let seen_bytes = recording.seen.clone();
        let step_name = "tls";
        let t = target.clone();
        let conn = &connector;
        let result = self
            .steps
            .run(
                step_name,
                |limit| {
                    if implicit {
                        Fail::new(
                            Category::Timeout,
                            format!("The TLS handshake with {t} did not finish within {limit}."),
                        )
                        .hint("The server did not answer the secure connection request. If this port expects plain IMAP or STARTTLS, change Use Secure Connection or the port.")
                    } else {
                        Fail::new(
                            Category::Timeout,
                            format!("The TLS handshake after STARTTLS with {t} did not finish within {limit}."),
                        )
                    }
                },
                async move {
                    match conn.connector.connect(name, recording).await {
                        Ok(s) => {
                            let (version, cert) = tls::describe_session(s.get_ref().1);
                            let detail = match &cert {
                                Some(c) => format!("{version}; certificate {c}"),
                                None => version.clone(),
                            };
                            Ok(((Box::new(s) as BoxIo, version, cert), detail))
                        }
                        Err(e) => Err(handshake_failure(&e, conn, &seen_bytes.lock().expect("recording"), &target, implicit)),
                    }
                },
            )
            .await;
        match result {
            Ok((stream, version, cert)) => {
                self.facts.tls = Some(version);
                self.facts.certificate = cert;
                Ok(stream)
            }
            Err(f) => {
                if self.facts.certificate.is_none() {
                    self.facts.certificate = connector.presented();
                }
                Err(f)
            }
        }
    }

    /// Reads the server's first line and hands the stream to an IMAP client.
    async fn greeting(
        &mut self,
        mut stream: BoxIo,
        addr: SocketAddr,
        plain: bool,
    ) -> Result<Client, Fail> {
        let target = self.shown();
        let budget = self.steps.budget();
        let host = self.target.host.clone();
        let t = target.clone();
        let partial = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let partial_t = partial.clone();
        let tt = target.clone();
        let security = self.target.security;
        let r = self
            .steps
            .run(
                "greeting",
                move |limit| {
                    let got = partial_t.lock().expect("partial").clone();
                    if got.is_empty() {
                        Fail::new(
                            Category::Timeout,
                            format!("{tt} accepted the connection but sent no greeting within {limit}."),
                        )
                        .hint(match security {
                            Security::Tls => "The server is silent after the TLS handshake; it may be overloaded, or this is not an IMAP port.".to_string(),
                            _ => "An IMAP server greets at once. If this port expects TLS from the first byte (usually 993), turn Use Secure Connection on.".to_string(),
                        })
                    } else {
                        Fail::new(
                            Category::Timeout,
                            format!("{tt} sent part of a line and then nothing for {limit}."),
                        )
                        .server(wire::printable(&got))
                        .hint("The server stopped in the middle of its greeting; it may be overloaded or not an IMAP server.")
                    }
                },
                async {
                    let read = async {
                        wire::read_line(&mut stream, &partial).await
                    };
                    let complete = if plain {
                        // A TLS-only port says nothing to a plain client: after a short wait,
                        // try TLS on a second connection to tell that apart from a slow server.
                        tokio::pin!(read);
                        let quick = (budget / 4).min(Duration::from_secs(2));
                        tokio::select! {
                            r = &mut read => r,
                            _ = tokio::time::sleep(quick) => {
                                let check = speaks_tls(addr, &host, quick.max(Duration::from_millis(500)));
                                tokio::pin!(check);
                                tokio::select! {
                                    r = &mut read => r,
                                    yes = &mut check => {
                                        if yes {
                                            return Err(Fail::new(
                                                Category::PlainOnTlsPort,
                                                format!("{t} expects a secure (TLS) connection from the first byte, but Use Secure Connection is off."),
                                            )
                                            .hint("Turn Use Secure Connection on (implicit TLS) for this port."));
                                        }
                                        read.await
                                    }
                                }
                            }
                        }
                    } else {
                        read.await
                    };
                    let complete = complete.map_err(|e| {
                        Fail::new(
                            Category::ProtocolError,
                            format!("Reading the greeting from {t} failed: {e}."),
                        )
                    })?;
                    let line = partial.lock().expect("partial").clone();
                    let text = wire::printable(&line);
                    if line.is_empty() {
                        return Err(Fail::new(
                            Category::ProtocolError,
                            format!("{t} closed the connection without a greeting."),
                        )
                        .hint("The server hung up at once: it may limit connections, block this machine's address, or not be an IMAP server."));
                    }
                    match wire::classify_first_line(&line) {
                        FirstLine::Ok | FirstLine::Preauth if complete => Ok(((), text)),
                        FirstLine::Ok | FirstLine::Preauth => Err(Fail::new(
                            Category::ProtocolError,
                            format!("{t} closed the connection in the middle of its greeting."),
                        )
                        .server(text)),
                        FirstLine::Bye => Err(Fail::new(
                            Category::ProtocolError,
                            format!("{t} refused the connection at once (BYE)."),
                        )
                        .server(text)
                        .hint("The server said why in its answer; it may be too busy or refuse this machine's address.")),
                        FirstLine::Tls => Err(Fail::new(
                            Category::PlainOnTlsPort,
                            format!("{t} expects a secure (TLS) connection from the first byte, but Use Secure Connection is off."),
                        )
                        .hint("Turn Use Secure Connection on (implicit TLS) for this port.")),
                        FirstLine::NotImap(what) => Err(Fail::new(
                            Category::NotImap,
                            format!("{t} is not an IMAP server: it answered like {what}."),
                        )
                        .server(text)
                        .hint("Check Host and Port: IMAP is usually 993 (TLS) or 143 (plain or STARTTLS).")),
                    }
                },
            )
            .await;
        r?;
        self.facts.greeting = Some(wire::printable(&partial.lock().expect("partial")));
        Ok(async_imap::Client::new(stream))
    }

    async fn capability(&mut self, client: &mut Client) -> Result<Vec<String>, Fail> {
        let target = self.shown();
        let r = &self.redactor;
        let refused = Fail::new(
            Category::ProtocolError,
            format!("{target} refused the CAPABILITY command."),
        );
        let caps = self
            .steps
            .run("capability", no_answer(&target, "CAPABILITY"), async {
                let reply = command_ok(client, "CAPABILITY", &target, r, refused).await?;
                let detail = reply.capabilities.join(" ");
                Ok((reply.capabilities, detail))
            })
            .await?;
        self.facts.capabilities = caps.clone();
        Ok(caps)
    }

    async fn starttls(&mut self, mut client: Client) -> Result<BoxIo, Fail> {
        let target = self.shown();
        let r = &self.redactor;
        let refused = Fail::new(
            Category::StarttlsUnsupported,
            format!("{target} refused STARTTLS."),
        )
        .hint("Use Secure Connection with implicit TLS (usually port 993).");
        self.steps
            .run("starttls", no_answer(&target, "STARTTLS"), async {
                let reply = command_ok(&mut client, "STARTTLS", &target, r, refused).await?;
                Ok(((), reply.text))
            })
            .await?;
        Ok(client.into_inner())
    }
}

/// A step's timeout when `target` did not answer `cmd`.
pub fn no_answer(target: &str, cmd: &str) -> impl FnOnce(&str) -> Fail + use<> {
    let (target, cmd) = (target.to_string(), cmd.to_string());
    move |limit| {
        Fail::new(
            Category::Timeout,
            format!("{target} did not answer {cmd} within {limit}."),
        )
    }
}

/// `command` that must be answered OK; any other answer is `refused`, with the server's words.
pub async fn command_ok(
    client: &mut Client,
    cmd: &str,
    target: &str,
    r: &Redactor,
    refused: Fail,
) -> Result<Reply, Fail> {
    let reply = command(client, cmd, target, r).await?;
    if reply.ok {
        Ok(reply)
    } else {
        Err(refused.server(reply.text))
    }
}

/// Sends one command with a tag of our own and reads its answer. Our tags ("P1", "L1") never
/// collide: a connection being opened or probed sends one command at a time.
pub async fn command(
    client: &mut Client,
    cmd: &str,
    target: &str,
    r: &Redactor,
) -> Result<Reply, Fail> {
    let tag = "P1";
    reply::send(client, &format!("{tag} {cmd}"))
        .await
        .map_err(|e| {
            Fail::new(
                Category::ProtocolError,
                format!("Sending {cmd} to {target} failed: {e}."),
            )
        })?;
    reply::read_reply(
        client,
        tag,
        false,
        &format!("its answer to {cmd}"),
        target,
        r,
    )
    .await
    .map_err(Fail::from)
}

/// Turns the answer to LOGIN / AUTHENTICATE into success or a category.
fn login_outcome(
    reply: Reply,
    to: &Peer<'_>,
    user: &str,
    mechanism: Mechanism,
) -> Result<((), String), Fail> {
    if reply.ok {
        return Ok((
            (),
            format!(
                "{} as {user}: {}",
                mechanism.name(),
                first_words(&reply.text)
            ),
        ));
    }
    let said = reply.said();
    if mechanism.is_token() {
        let (refusal, shown) =
            words::token_refused(&said, reply.challenge.as_deref(), to.shown, user);
        return Err(Fail::from(refusal).server(shown));
    }
    let refusal = words::login_refused(&said, to.shown, user);
    Err(Fail::from(refusal).server(said.join("\n")))
}

/// "OK [CAPABILITY …] Logged in" → "OK Logged in" (the capability list is long).
fn first_words(text: &str) -> String {
    match (text.find('['), text.find(']')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], text[b + 1..].trim_start()),
        _ => text.to_string(),
    }
}

//! Test Connection: DNS → TCP → TLS (or STARTTLS) → greeting → CAPABILITY → login → EXAMINE
//! INBOX → LOGOUT, each step timed, and one outcome category with a message a person can act on.
//!
//! Owns the order of the steps, their timeouts and the category of each failure. Must not
//! change the mailbox (EXAMINE, never SELECT; no STORE), send the password before the server
//! allows a login, or reuse a connection after a timeout.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpStream;

use super::reply::{self, Client, LoginMethod, Reply};
use super::tls::{self, CertificateInfo, Connector, HandshakeFailure, Trust};
use super::wire::{self, BoxIo, FirstLine, Recording};
use super::words::{self, Redactor};
use crate::config::{IpNetwork, default_deny_networks};
use crate::domain::{Secret, Security};

/// Where and how to connect. The password is passed separately to `probe`.
#[derive(Debug, Clone)]
pub struct ProbeRequest {
    /// A DNS name in ASCII form or an IP literal.
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The IMAP login name.
    pub login: String,
    pub ca_bundle: Option<String>,
    /// Lowercase hex SHA-256 of the one server certificate to accept.
    pub pinned_sha256: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub step_timeout: Duration,
    pub total_timeout: Duration,
    /// Addresses never connected to, checked after DNS resolution.
    pub deny: Vec<IpNetwork>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            deny: default_deny_networks(),
        }
    }
}

/// The outcome kinds; their snake_case names are part of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Ok,
    AuthFailed,
    AuthAppPasswordRequired,
    /// The provider turned password sign-in off (Microsoft 365): OAuth2 is needed.
    AuthOauthRequired,
    DnsNotFound,
    ConnectionRefused,
    Unreachable,
    Timeout,
    TlsOnPlainPort,
    PlainOnTlsPort,
    StarttlsUnsupported,
    CertificateExpired,
    CertificateUntrusted,
    CertificateWrongName,
    NotImap,
    LoginDisabled,
    BlockedAddress,
    ProtocolError,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AuthFailed => "auth_failed",
            Self::AuthAppPasswordRequired => "auth_app_password_required",
            Self::AuthOauthRequired => "auth_oauth_required",
            Self::DnsNotFound => "dns_not_found",
            Self::ConnectionRefused => "connection_refused",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::TlsOnPlainPort => "tls_on_plain_port",
            Self::PlainOnTlsPort => "plain_on_tls_port",
            Self::StarttlsUnsupported => "starttls_unsupported",
            Self::CertificateExpired => "certificate_expired",
            Self::CertificateUntrusted => "certificate_untrusted",
            Self::CertificateWrongName => "certificate_wrong_name",
            Self::NotImap => "not_imap",
            Self::LoginDisabled => "login_disabled",
            Self::BlockedAddress => "blocked_address",
            Self::ProtocolError => "protocol_error",
        }
    }
}

/// One timed step of the probe.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub ms: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InboxCounts {
    pub messages: u32,
    pub unseen: u32,
}

/// Everything the probe learned. `message` is the default wording; callers may replace it.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub ok: bool,
    pub category: Category,
    pub message: String,
    pub hint: Option<String>,
    pub server_response: Option<String>,
    pub steps: Vec<Step>,
    /// The address connected to.
    pub address: Option<String>,
    /// "TLSv1.3, TLS13_AES_256_GCM_SHA384", when the connection was encrypted.
    pub tls: Option<String>,
    /// The server's certificate, also when it was rejected.
    pub certificate: Option<CertificateInfo>,
    pub capabilities: Vec<String>,
    pub inbox: Option<InboxCounts>,
}

/// Why the probe stopped.
struct Fail {
    category: Category,
    message: String,
    hint: Option<String>,
    server_response: Option<String>,
}

impl Fail {
    fn new(category: Category, message: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
            hint: None,
            server_response: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    fn server(mut self, text: impl Into<String>) -> Self {
        let t = text.into();
        if !t.is_empty() {
            self.server_response = Some(t);
        }
        self
    }
}

/// Runs the whole test. Never panics on what a server sends; always ends within the total
/// timeout (plus a small margin for the last step's bookkeeping).
pub async fn probe(req: &ProbeRequest, password: &Secret, opts: &ProbeOptions) -> ProbeReport {
    let mut p = Probe {
        req,
        opts,
        started: Instant::now(),
        report: ProbeReport {
            ok: false,
            category: Category::ProtocolError,
            message: String::new(),
            hint: None,
            server_response: None,
            steps: Vec::new(),
            address: None,
            tls: None,
            certificate: None,
            capabilities: Vec::new(),
            inbox: None,
        },
        greeting: None,
        redactor: Arc::new(Redactor::new(&req.login, password)),
    };
    match p.run(password).await {
        Ok(()) => {
            p.report.ok = true;
            p.report.category = Category::Ok;
            p.report.message = "We were able to connect to your mailbox.".into();
            p.report.server_response = p.greeting.take();
        }
        Err(f) => {
            p.report.ok = false;
            p.report.category = f.category;
            p.report.message = f.message;
            p.report.hint = f.hint;
            p.report.server_response = f.server_response;
        }
    }
    let mut report = p.report;
    redact(&mut report, &p.redactor);
    report
}

/// A last guard: a server that echoes the password must not put it into the report. Server
/// lines were redacted as they were read; messages built around them are cleaned once more.
fn redact(report: &mut ProbeReport, r: &Redactor) {
    let fix = |s: &mut String| *s = r.clean(s);
    fix(&mut report.message);
    if let Some(h) = report.hint.as_mut() {
        fix(h);
    }
    if let Some(s) = report.server_response.as_mut() {
        fix(s);
    }
    for s in &mut report.steps {
        fix(&mut s.detail);
    }
    for c in &mut report.capabilities {
        fix(c);
    }
}

struct Probe<'a> {
    req: &'a ProbeRequest,
    opts: &'a ProbeOptions,
    started: Instant,
    report: ProbeReport,
    greeting: Option<String>,
    redactor: Arc<Redactor>,
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

impl Probe<'_> {
    fn target(&self) -> String {
        match self.req.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.req.host, self.req.port),
            _ => format!("{}:{}", self.req.host, self.req.port),
        }
    }

    /// The time this step may take: the step timeout, or what is left of the whole test.
    fn budget(&self) -> Duration {
        let left = self
            .opts
            .total_timeout
            .saturating_sub(self.started.elapsed());
        self.opts.step_timeout.min(left)
    }

    /// Runs one step under its timeout and records it. `what` describes the step for the
    /// timeout message ("sent no greeting").
    async fn step<T>(
        &mut self,
        name: &'static str,
        on_timeout: impl FnOnce(&str) -> Fail,
        fut: impl Future<Output = Result<(T, String), Fail>>,
    ) -> Result<T, Fail> {
        let budget = self.budget();
        let start = Instant::now();
        let result = if budget.is_zero() {
            Err(Fail::new(
                Category::Timeout,
                format!(
                    "The whole test took longer than {}; it was stopped before the {name} step.",
                    secs(self.opts.total_timeout)
                ),
            ))
        } else {
            match tokio::time::timeout(budget, fut).await {
                Ok(r) => r,
                Err(_) => {
                    let limit = if budget < self.opts.step_timeout {
                        format!("{} (the limit for the whole test)", secs(budget))
                    } else {
                        secs(budget)
                    };
                    Err(on_timeout(&limit))
                }
            }
        };
        let ms = start.elapsed().as_millis() as u64;
        match result {
            Ok((v, detail)) => {
                self.report.steps.push(Step {
                    name,
                    ok: true,
                    ms,
                    detail,
                });
                Ok(v)
            }
            Err(f) => {
                self.report.steps.push(Step {
                    name,
                    ok: false,
                    ms,
                    detail: f.message.clone(),
                });
                Err(f)
            }
        }
    }

    async fn run(&mut self, password: &Secret) -> Result<(), Fail> {
        let target = self.target();
        let addrs = self.dns().await?;
        let (tcp, addr) = self.tcp(&addrs).await?;
        self.report.address = Some(addr.to_string());
        let mut client = match self.req.security {
            Security::Tls => {
                let stream = self.tls_handshake(Box::new(tcp), true).await?;
                let (client, _) = self.greeting(stream, addr, false).await?;
                client
            }
            Security::None | Security::Starttls => {
                let (client, _) = self.greeting(Box::new(tcp), addr, true).await?;
                client
            }
        };
        let mut caps = self.capability(&mut client).await?;
        if self.req.security == Security::Starttls {
            if !caps.iter().any(|c| c.eq_ignore_ascii_case("STARTTLS")) {
                self.report.steps.push(Step {
                    name: "starttls",
                    ok: false,
                    ms: 0,
                    detail: "STARTTLS is not in the server's capabilities".into(),
                });
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
            .greeting
            .as_deref()
            .is_some_and(|g| g.to_ascii_uppercase().starts_with("* PREAUTH"));
        if preauth {
            // RFC 3501 §7.1.4: already authenticated (a tunnel or trusted connection).
            self.report.steps.push(Step {
                name: "login",
                ok: true,
                ms: 0,
                detail: "already logged in by the server (PREAUTH); the password was not sent"
                    .into(),
            });
        } else {
            self.login(&mut client, &caps, password).await?;
        }
        self.examine(&mut client).await?;
        self.logout(&mut client).await;
        Ok(())
    }

    async fn dns(&mut self) -> Result<Vec<SocketAddr>, Fail> {
        let host = self.req.host.clone();
        let port = self.req.port;
        let deny = self.opts.deny.clone();
        let host_t = host.clone();
        self.step(
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
                        format!("{host} is {ip}, which is in the blocked range {net}: Test Connection does not connect there."),
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
        let target = self.target();
        let addrs = addrs.to_vec();
        let t = target.clone();
        self.step(
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
            ca_bundle: self.req.ca_bundle.clone(),
            pinned_sha256: self.req.pinned_sha256.clone(),
        };
        let connector =
            Connector::new(&trust).map_err(|e| Fail::new(Category::ProtocolError, e))?;
        let name =
            tls::server_name(&self.req.host).map_err(|e| Fail::new(Category::ProtocolError, e))?;
        let target = self.target();
        let recording = Recording::new(stream);
        let seen_bytes = recording.seen.clone();
        let step_name = "tls";
        let t = target.clone();
        let conn = &connector;
        let result = self
            .step(
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
                self.report.tls = Some(version);
                self.report.certificate = cert;
                Ok(stream)
            }
            Err(f) => {
                if self.report.certificate.is_none() {
                    self.report.certificate = connector.presented();
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
    ) -> Result<(Client, String), Fail> {
        let target = self.target();
        let budget = self.budget();
        let host = self.req.host.clone();
        let t = target.clone();
        let partial = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let partial_t = partial.clone();
        let tt = target.clone();
        let security = self.req.security;
        let r = self
            .step(
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
        let text = wire::printable(&partial.lock().expect("partial"));
        self.greeting = Some(text.clone());
        Ok((async_imap::Client::new(stream), text))
    }

    async fn capability(&mut self, client: &mut Client) -> Result<Vec<String>, Fail> {
        let target = self.target();
        let r = self.redactor.clone();
        let t = target.clone();
        let caps = self
            .step(
                "capability",
                |limit| {
                    Fail::new(
                        Category::Timeout,
                        format!("{t} did not answer CAPABILITY within {limit}."),
                    )
                },
                async {
                    let reply = command(client, "CAPABILITY", &target, &r).await?;
                    if !reply.ok {
                        return Err(Fail::new(
                            Category::ProtocolError,
                            format!("{target} refused the CAPABILITY command."),
                        )
                        .server(reply.text));
                    }
                    let detail = reply.capabilities.join(" ");
                    Ok((reply.capabilities, detail))
                },
            )
            .await?;
        self.report.capabilities = caps.clone();
        Ok(caps)
    }

    async fn starttls(&mut self, mut client: Client) -> Result<BoxIo, Fail> {
        let target = self.target();
        let r = self.redactor.clone();
        let t = target.clone();
        self.step(
            "starttls",
            |limit| {
                Fail::new(
                    Category::Timeout,
                    format!("{t} did not answer STARTTLS within {limit}."),
                )
            },
            async {
                let reply = command(&mut client, "STARTTLS", &target, &r).await?;
                if !reply.ok {
                    return Err(Fail::new(
                        Category::StarttlsUnsupported,
                        format!("{target} refused STARTTLS."),
                    )
                    .server(reply.text)
                    .hint("Use Secure Connection with implicit TLS (usually port 993)."));
                }
                Ok(((), reply.text))
            },
        )
        .await?;
        Ok(client.into_inner())
    }

    async fn login(
        &mut self,
        client: &mut Client,
        caps: &[String],
        password: &Secret,
    ) -> Result<(), Fail> {
        let target = self.target();
        let r = self.redactor.clone();
        let user = self.req.login.clone();
        let Some(method) = LoginMethod::choose(caps, &user, password.expose(), false) else {
            let encrypted = self.req.security != Security::None;
            let f = if let Some(refusal) = words::login_unavailable(caps, encrypted, &target) {
                Fail::from(refusal).server(caps.join(" "))
            } else {
                Fail::new(
                    Category::ProtocolError,
                    "The login name or password contains a line break, which this server's LOGIN cannot carry (it does not offer AUTHENTICATE PLAIN).",
                )
            };
            self.report.steps.push(Step {
                name: "login",
                ok: false,
                ms: 0,
                detail: f.message.clone(),
            });
            return Err(f);
        };
        let t = target.clone();
        self.step(
            "login",
            |limit| {
                Fail::new(
                    Category::Timeout,
                    format!("{t} did not answer the login within {limit}."),
                )
            },
            async {
                let reply = reply::log_in(client, "L1", method, &user, password, &target, &r)
                    .await
                    .map_err(Fail::from)?;
                login_outcome(reply, &target, &user, method.name())
            },
        )
        .await
    }

    async fn examine(&mut self, client: &mut Client) -> Result<(), Fail> {
        let target = self.target();
        let r = self.redactor.clone();
        let t = target.clone();
        let counts = self
            .step(
                "examine",
                |limit| {
                    Fail::new(
                        Category::Timeout,
                        format!("{t} did not open INBOX within {limit}."),
                    )
                },
                async {
                    let reply = command(client, "EXAMINE INBOX", &target, &r).await?;
                    if !reply.ok {
                        return Err(Fail::new(
                            Category::ProtocolError,
                            "The login worked, but INBOX could not be opened.",
                        )
                        .server(reply.text));
                    }
                    let messages = reply.exists.unwrap_or(0);
                    let unseen_reply = command(client, "SEARCH UNSEEN", &target, &r).await?;
                    if !unseen_reply.ok {
                        return Err(Fail::new(
                            Category::ProtocolError,
                            "INBOX opened, but the server refused to count its unseen messages.",
                        )
                        .server(unseen_reply.text));
                    }
                    let unseen = unseen_reply.search.len() as u32;
                    let counts = InboxCounts { messages, unseen };
                    Ok((
                        counts,
                        format!("INBOX: {messages} messages, {unseen} unseen (opened read-only)"),
                    ))
                },
            )
            .await?;
        self.report.inbox = Some(counts);
        Ok(())
    }

    /// LOGOUT; a failure here is recorded but does not fail the test.
    async fn logout(&mut self, client: &mut Client) {
        let target = self.target();
        let r = self.redactor.clone();
        let t = target.clone();
        let _ = self
            .step(
                "logout",
                |limit| {
                    Fail::new(
                        Category::Timeout,
                        format!("{t} did not answer LOGOUT within {limit}."),
                    )
                },
                async {
                    let reply = command(client, "LOGOUT", &target, &r).await?;
                    Ok(((), reply.text))
                },
            )
            .await;
        // Whatever happened, the test is complete; a LOGOUT problem is only a step detail.
        if self.report.steps.last().is_some_and(|s| !s.ok) {
            tracing::debug!(target = %target, "LOGOUT did not complete");
        }
    }
}

/// Sends one command with a tag of our own and reads its answer. Our tags ("P1", "L1") never
/// collide: a probe sends one command at a time.
async fn command(
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

impl From<reply::ReadFailure> for Fail {
    fn from(f: reply::ReadFailure) -> Self {
        let fail = Fail::new(Category::ProtocolError, f.message);
        match f.server {
            Some(s) => fail.server(s),
            None => fail,
        }
    }
}

/// Turns the answer to LOGIN / AUTHENTICATE into success or a category.
fn login_outcome(
    reply: Reply,
    target: &str,
    user: &str,
    method: &str,
) -> Result<((), String), Fail> {
    if reply.ok {
        return Ok((
            (),
            format!("{method} as {user}: {}", first_words(&reply.text)),
        ));
    }
    let said = reply.said();
    let refusal = words::login_refused(&said, target, user);
    Err(Fail::from(refusal).server(said.join("\n")))
}

impl From<words::Refusal> for Fail {
    fn from(r: words::Refusal) -> Self {
        Self {
            category: r.category,
            message: r.message,
            hint: r.hint,
            server_response: None,
        }
    }
}

/// "OK [CAPABILITY …] Logged in" → "OK Logged in" (the capability list is long).
fn first_words(text: &str) -> String {
    match (text.find('['), text.find(']')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], text[b + 1..].trim_start()),
        _ => text.to_string(),
    }
}

/// Explains a failed TLS handshake, using what the server sent if it was not TLS.
fn handshake_failure(
    e: &std::io::Error,
    conn: &Connector,
    seen: &[u8],
    target: &str,
    implicit: bool,
) -> Fail {
    let (kind, text) = tls::classify(e);
    let cert = conn.presented();
    let cert_text = cert.as_ref().map(|c| c.to_string()).unwrap_or_default();
    let trust_hint = |c: &Option<CertificateInfo>| {
        let pin = c
            .as_ref()
            .map(|c| c.sha256.clone())
            .unwrap_or_else(|| "the certificate's SHA-256".into());
        format!(
            "To trust this server, add the certificate of the authority that signed it as the credential's CA bundle, or pin this certificate's SHA-256 fingerprint ({pin}) on this credential. Verification is never turned off."
        )
    };
    match kind {
        HandshakeFailure::Expired => Fail::new(
            Category::CertificateExpired,
            format!("The certificate of {target} is expired or not yet valid ({text}): {cert_text}."),
        )
        .hint("Ask the mail provider to renew the certificate; pinning its SHA-256 fingerprint on this credential trusts exactly this certificate meanwhile."),
        HandshakeFailure::WrongName => Fail::new(
            Category::CertificateWrongName,
            format!("The certificate of {target} is for another name ({text}): {cert_text}."),
        )
        .hint(format!(
            "Enter the host name the certificate is issued for{} or pin this certificate's SHA-256 fingerprint.",
            cert.as_ref()
                .filter(|c| !c.names.is_empty())
                .map(|c| format!(" ({})", c.names.join(", ")))
                .unwrap_or_default()
        )),
        HandshakeFailure::Untrusted => Fail::new(
            Category::CertificateUntrusted,
            format!(
                "The certificate of {target} is not trusted ({text}): {cert_text}.{}",
                if conn.bundle_problems.is_empty() {
                    String::new()
                } else {
                    format!(" Problems with the CA bundle: {}.", conn.bundle_problems.join("; "))
                }
            ),
        )
        .hint(if text.contains("self-signed") {
            // rustls refuses a CA certificate used as the server's own (CaUsedAsEndEntity):
            // a CA bundle cannot help, only a pin can.
            format!(
                "This server presents a self-signed authority certificate as its own; a CA bundle cannot make that valid. Pin this certificate's SHA-256 fingerprint ({}) on this credential, or ask the provider for a properly issued certificate.",
                cert.as_ref().map(|c| c.sha256.as_str()).unwrap_or("the certificate's SHA-256")
            )
        } else {
            trust_hint(&cert)
        }),
        HandshakeFailure::NotTls | HandshakeFailure::Other => {
            let shown = wire::printable(seen);
            match wire::classify_first_line(seen) {
                _ if seen.is_empty() => Fail::new(
                    Category::ProtocolError,
                    format!("The TLS handshake with {target} failed: {text}."),
                ),
                FirstLine::Ok | FirstLine::Preauth | FirstLine::Bye if implicit => Fail::new(
                    Category::TlsOnPlainPort,
                    format!("{target} speaks plain IMAP, but Use Secure Connection expects TLS from the first byte."),
                )
                .server(shown)
                .hint("Use STARTTLS on this port, or implicit TLS on port 993. Turning Use Secure Connection off would send the password in clear text."),
                FirstLine::NotImap(what) => Fail::new(
                    Category::NotImap,
                    format!("{target} is not an IMAP server: it answered like {what}."),
                )
                .server(shown)
                .hint("Check Host and Port: IMAP is usually 993 (TLS) or 143 (plain or STARTTLS)."),
                _ => Fail::new(
                    Category::ProtocolError,
                    format!("The TLS handshake with {target} failed: {text}."),
                )
                .server(shown),
            }
        }
    }
}

/// Whether `addr` completes (or clearly starts) a TLS handshake, on a separate connection.
async fn speaks_tls(addr: SocketAddr, host: &str, limit: Duration) -> bool {
    let attempt = async {
        let Ok(connector) = Connector::new(&Trust::default()) else {
            return false;
        };
        let Ok(name) = tls::server_name(host) else {
            return false;
        };
        let Ok(tcp) = TcpStream::connect(addr).await else {
            return false;
        };
        match connector.connector.connect(name, tcp).await {
            Ok(_) => true,
            // It sent a certificate: that is TLS, whatever we think of the certificate.
            Err(_) => connector.presented().is_some(),
        }
    };
    tokio::time::timeout(limit, attempt).await.unwrap_or(false)
}

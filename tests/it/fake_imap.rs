//! Scripted fake servers for what Dovecot will not do: other protocols' banners, silence, a
//! half line, `* BYE` at greeting, garbage, Gmail's app-password `[ALERT]` and Microsoft's
//! `AUTHENTICATE failed.` (for passwords, and for a token after XOAUTH2's JSON challenge). Each
//! connection runs the script; the server stops when dropped.

#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug)]
pub enum Script {
    /// Sends these bytes at connect, then reads and ignores everything.
    Banner(&'static [u8]),
    /// Accepts and says nothing.
    Silence,
    /// Gmail: LOGIN and AUTHENTICATE PLAIN answered with the app-password ALERT.
    GmailAppPassword,
    /// Microsoft 365: no LOGIN, AUTHENTICATE PLAIN answered "AUTHENTICATE failed.".
    MicrosoftAuthenticateFailed,
    /// Microsoft 365 with SASL-IR, PLAIN and XOAUTH2: LOGIN answered `NO LOGIN failed.`,
    /// AUTHENTICATE PLAIN `NO AUTHENTICATE failed.`, AUTHENTICATE XOAUTH2 with the JSON
    /// challenge `MICROSOFT_CHALLENGE` and, after the client's empty line, `NO AUTHENTICATE
    /// failed.`.
    Microsoft365,
    /// Greets, then answers CAPABILITY with half a line and stops.
    StallInCapability,
    /// Only AUTHENTICATE PLAIN with SASL-IR (LOGINDISABLED); accepts `PLAIN_USER`/`PLAIN_PASS`
    /// and serves an INBOX of 5 messages, 2 unseen.
    SaslIrOnly,
}

pub const PLAIN_USER: &str = "someone@example.com";
pub const PLAIN_PASS: &str = "Fake-Pass-9931";

pub const SMTP_BANNER: &[u8] = b"220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n";
pub const HTTP_BANNER: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n";
pub const HALF_LINE: &[u8] = b"* OK [CAPABILITY IMAP4rev1 SASL-IR";
pub const BYE: &[u8] = b"* BYE Too many connections from your IP, try again later\r\n";
pub const GARBAGE: &[u8] = b"\x00\xff\xfe\x13\x37\x80\x81\x82garbage\x01\x02\r\n";
/// What XOAUTH2 servers send (base64) before refusing a token.
pub const MICROSOFT_CHALLENGE: &str = r#"{"status":"401","schemes":"bearer","scope":"mail"}"#;
pub const GMAIL_ALERT: &str = "NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)";

pub struct FakeServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(serve(sock, script));
            }
        });
        Self { addr, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

async fn serve(sock: tokio::net::TcpStream, script: Script) {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r);
    let greeting: &[u8] = match script {
        Script::Banner(b) => b,
        Script::Silence => b"",
        Script::GmailAppPassword => b"* OK Gimap ready for requests from 127.0.0.1 x1mb1234\r\n",
        Script::StallInCapability | Script::SaslIrOnly => b"* OK IMAP4rev1 ready\r\n",
        Script::MicrosoftAuthenticateFailed | Script::Microsoft365 => {
            b"* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQBDAEEAMAAwADEAMgAuAA==]\r\n"
        }
    };
    if w.write_all(greeting).await.is_err() {
        return;
    }
    if matches!(script, Script::Banner(_) | Script::Silence) {
        // Read (TLS hellos included) and never answer, until the client goes away.
        let mut sink = [0u8; 1024];
        while let Ok(n) = tokio::io::AsyncReadExt::read(&mut lines, &mut sink).await {
            if n == 0 {
                return;
            }
        }
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let tag = parts.next().unwrap_or("*").to_string();
        let cmd = parts.next().unwrap_or("").to_ascii_uppercase();
        let reply = match (script, cmd.as_str()) {
            (Script::GmailAppPassword, "CAPABILITY") => format!(
                "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH\r\n{tag} OK Thats all she wrote! x1mb1234\r\n"
            ),
            (Script::GmailAppPassword, "LOGIN" | "AUTHENTICATE") => {
                format!("{tag} {GMAIL_ALERT}\r\n")
            }
            (Script::Microsoft365, "CAPABILITY") => format!(
                "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n"
            ),
            (Script::Microsoft365, "LOGIN") => format!("{tag} NO LOGIN failed.\r\n"),
            (Script::Microsoft365, "AUTHENTICATE") => {
                let mechanism = line
                    .split(' ')
                    .nth(2)
                    .unwrap_or("")
                    .trim()
                    .to_ascii_uppercase();
                if mechanism == "XOAUTH2" {
                    use base64::Engine as _;
                    let challenge =
                        base64::engine::general_purpose::STANDARD.encode(MICROSOFT_CHALLENGE);
                    if w.write_all(format!("+ {challenge}\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
                format!("{tag} NO AUTHENTICATE failed.\r\n")
            }
            (Script::MicrosoftAuthenticateFailed, "CAPABILITY") => format!(
                "* CAPABILITY IMAP4 IMAP4rev1 LOGINDISABLED AUTH=PLAIN AUTH=XOAUTH2 UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n"
            ),
            (Script::MicrosoftAuthenticateFailed, "AUTHENTICATE") => {
                // No SASL-IR: ask for the credentials, then refuse them.
                if w.write_all(b"+ \r\n").await.is_err() {
                    return;
                }
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                format!("{tag} NO AUTHENTICATE failed.\r\n")
            }
            (Script::StallInCapability, "CAPABILITY") => {
                "* CAPABILITY IMAP4rev1 AUTH=PL".to_string()
            }
            (Script::SaslIrOnly, "CAPABILITY") => format!(
                "* CAPABILITY IMAP4rev1 SASL-IR LOGINDISABLED AUTH=PLAIN\r\n{tag} OK done\r\n"
            ),
            (Script::SaslIrOnly, "AUTHENTICATE") => {
                use base64::Engine as _;
                let rest = line.trim_end().splitn(4, ' ').nth(3).unwrap_or("");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .unwrap_or_default();
                if decoded == format!("\0{PLAIN_USER}\0{PLAIN_PASS}").into_bytes() {
                    format!("{tag} OK Logged in\r\n")
                } else {
                    format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                }
            }
            (Script::SaslIrOnly, "EXAMINE") => format!(
                "* 5 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 4] first unseen\r\n{tag} OK [READ-ONLY] EXAMINE completed\r\n"
            ),
            (Script::SaslIrOnly, "SEARCH") => {
                format!("* SEARCH 4 5\r\n{tag} OK SEARCH completed\r\n")
            }
            (Script::SaslIrOnly, "SELECT") => format!("{tag} BAD the test must not SELECT\r\n"),
            (_, "LOGOUT") => format!("* BYE bye\r\n{tag} OK LOGOUT completed.\r\n"),
            _ => format!("{tag} BAD Command not recognised\r\n"),
        };
        if w.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

// ---- A scripted INBOX for processing ----
//
// `MailServer` serves a small INBOX the way processing uses it (greeting, CAPABILITY, LOGIN /
// AUTHENTICATE PLAIN, SELECT, UID SEARCH, UID FETCH, UID STORE, IDLE, LOGOUT), with the faults
// of `Faults` switched on; the test reads and changes its state (flags, faults) directly.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};

/// One message of a scripted INBOX.
#[derive(Clone, Debug)]
pub struct FakeMessage {
    pub uid: u32,
    pub raw: Vec<u8>,
    pub seen: bool,
}

/// How a scripted mailbox server misbehaves; `Default` is a well-behaved one.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Capabilities (default `IMAP4rev1 SASL-IR AUTH=PLAIN IDLE`).
    pub capabilities: Option<String>,
    /// End every line the server sends with a bare LF instead of CR LF.
    pub bare_lf: bool,
    /// Tagged answer to LOGIN / AUTHENTICATE, whatever the password; `{user}`, `{password}`
    /// and `{plain}` (the base64 SASL PLAIN string) become what the client sent.
    pub login_answer: Option<String>,
    /// Answer to SELECT: a tagged line ("NO [NONEXISTENT] …"), or an untagged `* BYE …` after
    /// which the connection is closed.
    pub select_answer: Option<String>,
    /// Left out of every FETCH of bodies that asks for more than one message.
    pub omit_in_multi: Vec<u32>,
    /// Never sent, however asked for.
    pub never_send: Vec<u32>,
    /// Tagged answer to a FETCH of bodies that left something out ("NO …"); OK when unset.
    pub fetch_no: Option<String>,
    /// This UID's body is announced as a literal of this many bytes, and never sent.
    pub huge_literal: Option<(u32, u64)>,
    /// The connection is closed half-way through this UID's body.
    pub close_in_body: Option<u32>,
}

/// What the test sees and changes while the server runs.
#[derive(Debug)]
pub struct MailState {
    pub messages: Vec<FakeMessage>,
    pub faults: Faults,
    pub uidvalidity: u32,
    /// Every FETCH of bodies received, as its UID set.
    pub body_fetches: Vec<String>,
}

impl MailState {
    pub fn seen(&self) -> Vec<u32> {
        self.messages
            .iter()
            .filter(|m| m.seen)
            .map(|m| m.uid)
            .collect()
    }
}

pub struct MailServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<MailState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A plain email from `n` to `to`.
pub fn fake_email(n: u32, to: &str) -> Vec<u8> {
    format!(
        "From: Client {n} <client{n}@client.example>\r\nTo: {to}\r\nSubject: Fake request {n}\r\nMessage-ID: <fake{n}@client.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nHello from client {n}.\r\n"
    )
    .into_bytes()
}

impl MailServer {
    /// Plain IMAP on 127.0.0.1 serving `messages` (unseen) for `PLAIN_USER` / `PLAIN_PASS`.
    pub async fn start(messages: Vec<(u32, Vec<u8>)>, faults: Faults) -> Self {
        Self::start_with(messages, faults, None).await
    }

    /// The same with implicit TLS, presenting `leaf` (pin its SHA-256 to trust it).
    pub async fn start_tls(
        messages: Vec<(u32, Vec<u8>)>,
        faults: Faults,
        leaf: &crate::dovecot::Leaf,
    ) -> Self {
        use rustls_pki_types::pem::PemObject;
        let certs = vec![
            rustls_pki_types::CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).unwrap(),
        ];
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::start_with(messages, faults, Some(acceptor)).await
    }

    async fn start_with(
        messages: Vec<(u32, Vec<u8>)>,
        faults: Faults,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(MailState {
            messages: messages
                .into_iter()
                .map(|(uid, raw)| FakeMessage {
                    uid,
                    raw,
                    seen: false,
                })
                .collect(),
            faults,
            uidvalidity: 7,
            body_fetches: Vec::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                match tls.clone() {
                    Some(acceptor) => {
                        conns.spawn(async move {
                            if let Ok(s) = acceptor.accept(sock).await {
                                serve_mailbox(s, state).await;
                            }
                        });
                    }
                    None => {
                        conns.spawn(serve_mailbox(sock, state));
                    }
                }
            }
        });
        Self { addr, state, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.state.lock().unwrap().faults);
    }

    pub fn seen(&self) -> Vec<u32> {
        self.state.lock().unwrap().seen()
    }
}

/// `101:103,105` (with `*` as the highest UID) → the UIDs it names.
fn uid_set(set: &str, max: u32) -> Vec<u32> {
    let num = |s: &str| {
        if s == "*" {
            max
        } else {
            s.parse().unwrap_or(0)
        }
    };
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (num(a), num(b));
                out.extend(a.min(b)..=a.max(b));
            }
            None => out.push(num(part)),
        }
    }
    out
}

/// A quoted string or an atom at the start of `s`; returns it and the rest.
fn astring(s: &str) -> (String, &str) {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => return (out, &rest[i + 1..]),
                c => out.push(c),
            }
        }
        (out, "")
    } else {
        let end = s.find(' ').unwrap_or(s.len());
        (s[..end].to_string(), &s[end..])
    }
}

fn put(out: &mut Vec<u8>, s: String) {
    out.extend_from_slice(s.as_bytes());
}

async fn serve_mailbox<S: AsyncRead + AsyncWrite + Unpin>(sock: S, state: Arc<Mutex<MailState>>) {
    let (r, mut w) = tokio::io::split(sock);
    let mut lines = BufReader::new(r);
    let eol = if state.lock().unwrap().faults.bare_lf {
        "\n"
    } else {
        "\r\n"
    };
    if w.write_all(format!("* OK Fake IMAP ready{eol}").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = line.trim_end().to_string();
        let (tag, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let (cmd, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut cmd = cmd.to_ascii_uppercase();
        let mut args = args.to_string();
        if cmd == "UID" {
            let (sub, a) = args.split_once(' ').unwrap_or((args.as_str(), ""));
            cmd = format!("UID {}", sub.to_ascii_uppercase());
            args = a.to_string();
        }
        let mut out: Vec<u8> = Vec::new();
        let faults = state.lock().unwrap().faults.clone();
        let mut close = false;
        match cmd.as_str() {
            "CAPABILITY" => {
                let caps = faults
                    .capabilities
                    .clone()
                    .unwrap_or_else(|| "IMAP4rev1 SASL-IR AUTH=PLAIN IDLE".into());
                put(
                    &mut out,
                    format!("* CAPABILITY {caps}{eol}{tag} OK CAPABILITY completed{eol}"),
                );
            }
            "LOGIN" | "AUTHENTICATE" => {
                use base64::Engine as _;
                let (user, password, plain) = if cmd == "LOGIN" {
                    let (user, rest) = astring(&args);
                    let (password, _) = astring(rest);
                    let plain = base64::engine::general_purpose::STANDARD
                        .encode(format!("\0{user}\0{password}"));
                    (user, password, plain)
                } else {
                    let mut plain = args.split(' ').nth(1).unwrap_or("").to_string();
                    if plain.is_empty() {
                        if w.write_all(format!("+ {eol}").as_bytes()).await.is_err() {
                            return;
                        }
                        let mut next = String::new();
                        if lines.read_line(&mut next).await.unwrap_or(0) == 0 {
                            return;
                        }
                        plain = next.trim_end().to_string();
                    }
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(&plain)
                        .unwrap_or_default();
                    let parts: Vec<String> = decoded
                        .split(|b| *b == 0)
                        .map(|p| String::from_utf8_lossy(p).to_string())
                        .collect();
                    let user = parts.get(1).cloned().unwrap_or_default();
                    let password = parts.get(2).cloned().unwrap_or_default();
                    (user, password, plain)
                };
                match &faults.login_answer {
                    Some(answer) => put(
                        &mut out,
                        format!(
                            "{tag} {}{eol}",
                            answer
                                .replace("{user}", &user)
                                .replace("{password}", &password)
                                .replace("{plain}", &plain)
                        ),
                    ),
                    None if user == PLAIN_USER && password == PLAIN_PASS => {
                        put(&mut out, format!("{tag} OK Logged in{eol}"))
                    }
                    None => put(
                        &mut out,
                        format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.{eol}"),
                    ),
                }
            }
            "SELECT" | "EXAMINE" => match &faults.select_answer {
                Some(bye) if bye.starts_with("* BYE") => {
                    put(&mut out, format!("{bye}{eol}"));
                    close = true;
                }
                Some(answer) => put(&mut out, format!("{tag} {answer}{eol}")),
                None => {
                    let st = state.lock().unwrap();
                    let next = st.messages.iter().map(|m| m.uid).max().unwrap_or(0) + 1;
                    put(&mut out, format!(
                        "* FLAGS (\\Seen)\r\n* {} EXISTS{eol}* 0 RECENT{eol}* OK [UIDVALIDITY {}] UIDs valid{eol}* OK [UIDNEXT {next}] Predicted next UID{eol}{tag} OK [READ-WRITE] {cmd} completed{eol}",
                        st.messages.len(),
                        st.uidvalidity
                    )
                    .replace("\r\n", eol));
                }
            },
            "SEARCH" | "UID SEARCH" => {
                let st = state.lock().unwrap();
                let max = st.messages.iter().map(|m| m.uid).max().unwrap_or(0);
                let tokens: Vec<String> = args
                    .split_whitespace()
                    .map(str::to_ascii_uppercase)
                    .collect();
                let mut found: Vec<u32> = Vec::new();
                for (i, m) in st.messages.iter().enumerate() {
                    let mut ok = true;
                    let mut t = tokens.iter();
                    while let Some(key) = t.next() {
                        ok &= match key.as_str() {
                            "ALL" => true,
                            "UNSEEN" => !m.seen,
                            "UID" => uid_set(t.next().map_or("", |s| s), max).contains(&m.uid),
                            "LARGER" => {
                                m.raw.len() as u64
                                    > t.next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)
                            }
                            _ => false,
                        };
                    }
                    if ok {
                        found.push(if cmd == "SEARCH" { i as u32 + 1 } else { m.uid });
                    }
                }
                let list: Vec<String> = found.iter().map(u32::to_string).collect();
                put(
                    &mut out,
                    format!(
                        "* SEARCH {}{eol}{tag} OK SEARCH completed{eol}",
                        list.join(" ")
                    ),
                );
            }
            "UID FETCH" => {
                let (set, items) = args.split_once(' ').unwrap_or((args.as_str(), ""));
                let sizes_only = items.to_ascii_uppercase().contains("RFC822.SIZE");
                let mut st = state.lock().unwrap();
                let max = st.messages.iter().map(|m| m.uid).max().unwrap_or(0);
                let asked = uid_set(set, max);
                if !sizes_only {
                    st.body_fetches.push(set.to_string());
                }
                let wanted: Vec<(usize, FakeMessage)> = st
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| asked.contains(&m.uid))
                    .map(|(i, m)| (i, m.clone()))
                    .collect();
                drop(st);
                let multi = wanted.len() > 1;
                let mut left_out = false;
                for (i, m) in &wanted {
                    let seq = i + 1;
                    let uid = m.uid;
                    if sizes_only {
                        put(
                            &mut out,
                            format!("* {seq} FETCH (UID {uid} RFC822.SIZE {}){eol}", m.raw.len()),
                        );
                        continue;
                    }
                    if (multi && faults.omit_in_multi.contains(&uid))
                        || faults.never_send.contains(&uid)
                    {
                        left_out = true;
                        continue;
                    }
                    if let Some((u, n)) = faults.huge_literal
                        && u == uid
                    {
                        put(
                            &mut out,
                            format!("* {seq} FETCH (UID {uid} BODY[] {{{n}}}{eol}"),
                        );
                        close = true;
                        break;
                    }
                    if faults.close_in_body == Some(uid) {
                        put(
                            &mut out,
                            format!("* {seq} FETCH (UID {uid} BODY[] {{{}}}{eol}", m.raw.len()),
                        );
                        out.extend_from_slice(&m.raw[..m.raw.len() / 2]);
                        close = true;
                        break;
                    }
                    put(
                        &mut out,
                        format!("* {seq} FETCH (UID {uid} BODY[] {{{}}}{eol}", m.raw.len()),
                    );
                    out.extend_from_slice(&m.raw);
                    out.extend_from_slice(format!("){eol}").as_bytes());
                }
                if !close {
                    let answer = match (&faults.fetch_no, left_out) {
                        (Some(no), true) => no.clone(),
                        _ => "OK FETCH completed".into(),
                    };
                    out.extend_from_slice(format!("{tag} {answer}{eol}").as_bytes());
                }
            }
            "UID STORE" => {
                let set = args.split(' ').next().unwrap_or("");
                let mut st = state.lock().unwrap();
                let max = st.messages.iter().map(|m| m.uid).max().unwrap_or(0);
                let asked = uid_set(set, max);
                for m in st.messages.iter_mut().filter(|m| asked.contains(&m.uid)) {
                    m.seen = true;
                }
                put(&mut out, format!("{tag} OK STORE completed{eol}"));
            }
            "IDLE" => {
                if w.write_all(format!("+ idling{eol}").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
                let mut done = String::new();
                if lines.read_line(&mut done).await.unwrap_or(0) == 0 {
                    return;
                }
                put(&mut out, format!("{tag} OK IDLE terminated{eol}"));
            }
            "NOOP" => put(&mut out, format!("{tag} OK NOOP completed{eol}")),
            "LOGOUT" => {
                put(
                    &mut out,
                    format!("* BYE bye{eol}{tag} OK LOGOUT completed{eol}"),
                );
                close = true;
            }
            _ => put(&mut out, format!("{tag} BAD Command not recognised{eol}")),
        }
        if w.write_all(&out).await.is_err() || w.flush().await.is_err() {
            return;
        }
        if close {
            // Let the client read what was sent before the connection goes.
            let _ = w.shutdown().await;
            return;
        }
    }
}

//! Scripted fake servers for what Dovecot will not do: other protocols' banners, silence, a
//! half line, `* BYE` at greeting, garbage, Gmail's app-password `[ALERT]` and Microsoft's
//! `AUTHENTICATE failed.`. Each connection runs the script; the server stops when dropped.

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
    /// Gmail: LOGIN answered with the app-password ALERT.
    GmailAppPassword,
    /// Microsoft 365: no LOGIN, AUTHENTICATE PLAIN answered "AUTHENTICATE failed.".
    MicrosoftAuthenticateFailed,
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
        Script::MicrosoftAuthenticateFailed => {
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
            (Script::GmailAppPassword, "LOGIN") => format!("{tag} {GMAIL_ALERT}\r\n"),
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

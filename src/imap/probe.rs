//! Test Connection: DNS → TCP → TLS (or STARTTLS) → greeting → CAPABILITY → (token) → login
//! → EXAMINE INBOX → LOGOUT, each step timed, and one outcome category with a message a person
//! can act on. The steps up to the login are `connect::Dialer`'s, the same processing uses.
//!
//! Owns the report, the outcome categories and the read-only steps after the login. Must not
//! change the mailbox (EXAMINE, never SELECT; no STORE), send a secret before the server
//! allows a login, or reuse a connection after a timeout.

use std::time::Duration;

use serde::Serialize;

use super::connect::{Dialer, Target, command, command_ok, no_answer};
use super::login::Credentials;
use super::reply::Client;
use super::steps::{Fail, Step, Steps};
use super::tls::CertificateInfo;
use super::words::Redactor;
use crate::config::{IpNetwork, default_deny_networks};

/// Where and how Test Connection connects: the one connection target.
pub type ProbeRequest = Target;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// The token step failed: no access token could be had (the sign-in, the app, the
    /// provider).
    TokenFailed,
    /// The server refused the access token.
    AuthTokenRejected,
    /// The server offers no OAuth2 mechanism (AUTH=XOAUTH2 / AUTH=OAUTHBEARER).
    OauthUnsupported,
}

impl Category {
    /// Whether the server refused the password or token (counts towards pausing a
    /// credential).
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Self::AuthFailed
                | Self::AuthAppPasswordRequired
                | Self::AuthOauthRequired
                | Self::AuthTokenRejected
        )
    }

    /// Every category, for looking one up by its name.
    const ALL: [Self; 21] = [
        Self::Ok,
        Self::AuthFailed,
        Self::AuthAppPasswordRequired,
        Self::AuthOauthRequired,
        Self::DnsNotFound,
        Self::ConnectionRefused,
        Self::Unreachable,
        Self::Timeout,
        Self::TlsOnPlainPort,
        Self::PlainOnTlsPort,
        Self::StarttlsUnsupported,
        Self::CertificateExpired,
        Self::CertificateUntrusted,
        Self::CertificateWrongName,
        Self::NotImap,
        Self::LoginDisabled,
        Self::BlockedAddress,
        Self::ProtocolError,
        Self::TokenFailed,
        Self::AuthTokenRejected,
        Self::OauthUnsupported,
    ];

    /// The category named `code` (its `as_str`), if there is one.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The outcome in a few words, for a person ("Wrong username or password").
    pub fn title(self) -> &'static str {
        match self {
            Self::Ok => "Connected",
            Self::AuthFailed => "Wrong username or password",
            Self::AuthAppPasswordRequired => "App password needed",
            Self::AuthOauthRequired => "OAuth2 sign-in needed",
            Self::DnsNotFound => "Host not found",
            Self::ConnectionRefused => "Connection refused",
            Self::Unreachable => "Server unreachable",
            Self::Timeout => "No answer in time",
            Self::TlsOnPlainPort | Self::PlainOnTlsPort => {
                "Security setting does not match the port"
            }
            Self::StarttlsUnsupported => "STARTTLS not offered",
            Self::CertificateExpired => "Certificate expired",
            Self::CertificateUntrusted => "Certificate not trusted",
            Self::CertificateWrongName => "Certificate is for another name",
            Self::NotImap => "Not an IMAP server",
            Self::LoginDisabled => "Login refused without encryption",
            Self::BlockedAddress => "Address not allowed",
            Self::ProtocolError => "Unexpected answer from the server",
            Self::TokenFailed => "No access token",
            Self::AuthTokenRejected => "Access token refused",
            Self::OauthUnsupported => "Server offers no OAuth2 sign-in",
        }
    }

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
            Self::TokenFailed => "token_failed",
            Self::AuthTokenRejected => "auth_token_rejected",
            Self::OauthUnsupported => "oauth_unsupported",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InboxCounts {
    pub messages: u32,
    pub unseen: u32,
}

/// Everything the probe learned. `message` is the default wording; callers may replace it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProbeReport {
    pub ok: bool,
    pub category: Category,
    pub message: String,
    pub hint: Option<String>,
    pub server_response: Option<String>,
    /// The credential field that fixes a failure: `ca_bundle` (paste the authority's
    /// certificate), `pinned_sha256` (pin the certificate shown) or `host`.
    pub fix_field: Option<String>,
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

/// Runs the whole test with a password (`&Secret`), a `Login`, or a token source (then a
/// timed "token" step fetches the token before the login). Never panics on what a server
/// sends; always ends within the total timeout (plus a small margin for the last step's
/// bookkeeping).
pub async fn probe(
    req: &ProbeRequest,
    credentials: impl Into<Credentials>,
    opts: &ProbeOptions,
) -> ProbeReport {
    let creds = credentials.into();
    let steps = Steps::new(opts.step_timeout, Some(opts.total_timeout));
    let mut d = Dialer::new(req, &opts.deny, steps, &creds);
    let outcome = async {
        let mut client = d.open(&creds).await?;
        examine(&mut d, &mut client)
            .await
            .map(|inbox| (client, inbox))
    }
    .await;
    let mut report = ProbeReport {
        ok: false,
        category: Category::ProtocolError,
        message: String::new(),
        hint: None,
        server_response: None,
        fix_field: None,
        steps: Vec::new(),
        address: None,
        tls: None,
        certificate: None,
        capabilities: Vec::new(),
        inbox: None,
    };
    match outcome {
        Ok((mut client, inbox)) => {
            logout(&mut d, &mut client).await;
            report.ok = true;
            report.category = Category::Ok;
            report.message = "We were able to connect to your mailbox.".into();
            report.inbox = Some(inbox);
            report.server_response = d.facts.greeting.take();
        }
        Err(f) => {
            report.category = f.category;
            report.message = f.message;
            report.hint = f.hint;
            report.server_response = f.server_response;
            report.fix_field = f.fix_field.map(str::to_string);
        }
    }
    report.steps = std::mem::take(&mut d.steps.done);
    report.address = d.facts.address.take();
    report.tls = d.facts.tls.take();
    report.certificate = d.facts.certificate.take();
    report.capabilities = std::mem::take(&mut d.facts.capabilities);
    redact(&mut report, &d.redactor);
    report
}

/// A last guard: a server that echoes a secret must not put it into the report. Server
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

/// EXAMINE INBOX (read-only) and count its unseen messages.
async fn examine(d: &mut Dialer<'_>, client: &mut Client) -> Result<InboxCounts, Fail> {
    let target = d.target.shown();
    let r = &d.redactor;
    let t = target.clone();
    let late = move |limit: &str| {
        Fail::new(
            Category::Timeout,
            format!("{t} did not open INBOX within {limit}."),
        )
    };
    let refused = |message: &str| Fail::new(Category::ProtocolError, message);
    d.steps
        .run("examine", late, async {
            let no_inbox = refused("The login worked, but INBOX could not be opened.");
            let opened = command_ok(client, "EXAMINE INBOX", &target, r, no_inbox).await?;
            let messages = opened.exists.unwrap_or(0);
            let no_count =
                refused("INBOX opened, but the server refused to count its unseen messages.");
            let unseen = command_ok(client, "SEARCH UNSEEN", &target, r, no_count).await?;
            let unseen = unseen.search.len() as u32;
            Ok((
                InboxCounts { messages, unseen },
                format!("INBOX: {messages} messages, {unseen} unseen (opened read-only)"),
            ))
        })
        .await
}

/// LOGOUT; a failure here is recorded but does not fail the test.
async fn logout(d: &mut Dialer<'_>, client: &mut Client) {
    let target = d.target.shown();
    let r = &d.redactor;
    let done = d
        .steps
        .run("logout", no_answer(&target, "LOGOUT"), async {
            let reply = command(client, "LOGOUT", &target, r).await?;
            Ok(((), reply.text))
        })
        .await;
    // Whatever happened, the test is complete; a LOGOUT problem is only a step detail.
    if done.is_err() {
        tracing::debug!(target = %target, "LOGOUT did not complete");
    }
}

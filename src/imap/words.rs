//! What a mail server said, made safe and readable, for Test Connection and processing alike:
//! `Redactor` is the one redaction of server text (the password or access token and every
//! encoding of it we sent), `read_failure` the one translation of a failed read (async-imap's
//! io errors and parser dumps) into words, and `login_refused` / `login_unavailable` /
//! `token_refused` / `token_unavailable` the one explanation of a login that did not happen.
//!
//! Owns the wording. Must not do I/O. Server text reaches a report, an error or a log line
//! only through a `Redactor` (`reply` builds every server line with one).

use zeroize::Zeroize;

use super::login::Login;
use super::probe::Category;
use super::sasl;
use super::wire;

/// Removes every form of a secret a server could echo back: the password as typed, as quoted
/// in a LOGIN command, in base64, and as the base64 SASL PLAIN string (`\0login\0password`);
/// an access token as is, in base64 and in its XOAUTH2 and OAUTHBEARER strings.
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// Knows no secret yet (a token still to be fetched).
    pub fn empty() -> Self {
        Self { forms: Vec::new() }
    }

    /// Learns the forms of `login`'s secret as sent to `user` at `host:port`.
    pub fn add(&mut self, user: &str, host: &str, port: u16, login: &Login) {
        self.forms
            .extend(sasl::secret_forms(user, host, port, login));
        // Longest first, so a form that contains another is replaced whole.
        self.forms
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.forms.dedup();
    }

    /// `text` with every form of the password replaced by `[redacted]`.
    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for f in &self.forms {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), "[redacted]");
            }
        }
        out
    }

    /// Bytes from the server as one printable line, redacted before it is shortened (so no
    /// part of the password survives a cut).
    pub fn line(&self, bytes: &[u8]) -> String {
        wire::printable(self.clean(&String::from_utf8_lossy(bytes)).as_bytes())
    }
}

impl Drop for Redactor {
    fn drop(&mut self) {
        for f in &mut self.forms {
            f.zeroize();
        }
    }
}

/// The most async-imap buffers for one answer before it gives up ("incoming data too large").
const READ_LIMIT: u64 = 512 * 1024 * 1024;

/// Why reading an answer failed, in words. `target` is `host:port`; `what` names what was
/// being read ("an email", "its answer to SELECT INBOX").
pub fn read_failure(e: &std::io::Error, target: &str, what: &str, r: &Redactor) -> String {
    let text = e.to_string();
    if e.kind() == std::io::ErrorKind::UnexpectedEof && text.contains("bytes remaining in stream") {
        return format!("{target} closed the connection in the middle of {what}.");
    }
    if text == "incoming data too large" {
        return format!(
            "{target} sent more than {} in one piece while sending {what}, more than Mailroom reads at once; it stopped reading.",
            size_words(READ_LIMIT)
        );
    }
    const MARK: &str = " during parsing of ";
    if let Some(at) = text.find(MARK) {
        let bytes = unescape_debug(&text[at + MARK.len()..]);
        return not_imap(&bytes, target, what, r);
    }
    format!(
        "The connection to {target} failed while reading {what}: {}.",
        r.clean(&text)
    )
}

/// Words for bytes the IMAP parser refused.
fn not_imap(bytes: &[u8], target: &str, what: &str, r: &Redactor) -> String {
    if let Some(n) = announced_literal(bytes).filter(|n| *n > READ_LIMIT) {
        return format!(
            "{target} announced {} of data ({n} bytes) in {what}, far more than any email can be; Mailroom stopped reading.",
            size_words(n)
        );
    }
    if has_bare_lf(bytes) {
        return format!(
            "{target} ends its lines with a bare line feed (LF) instead of CR LF, which IMAP requires, so {what} could not be read. The server does not follow the IMAP standard (RFC 3501); ask its provider."
        );
    }
    let first = bytes
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes, |i| &bytes[..i]);
    format!(
        "{target} sent something that is not valid IMAP in {what}: \"{}\".",
        r.line(first)
    )
}

/// The largest literal size announced (`{123}` at the end of a line), when one is; sizes too
/// large for any number count as `u64::MAX`.
fn announced_literal(bytes: &[u8]) -> Option<u64> {
    let mut best: Option<u64> = None;
    let mut i = 0;
    while let Some(open) = bytes[i..].iter().position(|b| *b == b'{').map(|p| p + i) {
        let digits = bytes[open + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let close = open + 1 + digits;
        let at_line_end =
            bytes.get(close) == Some(&b'}') && matches!(bytes.get(close + 1), Some(b'\r' | b'\n'));
        if digits > 0 && at_line_end {
            let n = std::str::from_utf8(&bytes[open + 1..close])
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            best = Some(best.map_or(n, |b| b.max(n)));
        }
        i = open + 1;
    }
    best
}

fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// "93 GB", "600 MB": decimal units, as mail providers state sizes.
pub fn size_words(n: u64) -> String {
    let (unit, div) = if n >= 1_000_000_000 {
        ("GB", 1e9)
    } else if n >= 1_000_000 {
        ("MB", 1e6)
    } else if n >= 1_000 {
        ("kB", 1e3)
    } else {
        return format!("{n} bytes");
    };
    let v = n as f64 / div;
    if v >= 10.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// Reverses Rust's `{:?}` of a string (how async-imap puts the unparsed bytes into its error).
fn unescape_debug(s: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut chars = s.trim_start().strip_prefix('"').unwrap_or(s).chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some('u') => {
                    let hex: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '{')
                        .take_while(|c| *c != '}')
                        .collect();
                    if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(ch);
                    }
                }
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// Why a login did not work: the probe's category, a message and what to do.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub category: Category,
    pub message: String,
    pub hint: Option<String>,
}

impl Refusal {
    fn new(category: Category, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            category,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// One paragraph: the message, the server's own words (when there are any), the hint.
    pub fn sentence(&self, server: Option<&str>) -> String {
        let mut out = self.message.clone();
        if !out.ends_with('.') {
            out.push('.');
        }
        if let Some(s) = server.filter(|s| !s.is_empty()) {
            out.push_str(&format!(" The server answered: {s}"));
            if !s.ends_with('.') {
                out.push('.');
            }
        }
        if let Some(h) = &self.hint {
            out.push(' ');
            out.push_str(h);
        }
        out
    }
}

/// The login cannot even be tried: the server offers no way to send a password (LOGINDISABLED
/// and no AUTHENTICATE PLAIN). On a plain connection encryption would help; on an encrypted one
/// nothing would. `None` when a password login is possible.
pub fn login_unavailable(caps: &[String], encrypted: bool, target: &str) -> Option<Refusal> {
    let has = |c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    if !has("LOGINDISABLED") || has("AUTH=PLAIN") {
        return None;
    }
    Some(if encrypted {
        let other = if has("AUTH=XOAUTH2") || has("AUTH=OAUTHBEARER") {
            " It offers OAuth2 sign-in instead."
        } else {
            ""
        };
        Refusal::new(
            Category::LoginDisabled,
            format!(
                "{target} accepts no password login at all: it announces LOGINDISABLED and offers no AUTHENTICATE PLAIN, even on this encrypted connection. The password was not sent."
            ),
            format!(
                "Turning on encryption cannot help here.{other} Ask the mail provider how to sign in to this mailbox over IMAP (for example OAuth2, or turning on IMAP password access)."
            ),
        )
    } else {
        Refusal::new(
            Category::LoginDisabled,
            format!(
                "{target} refuses to log in over a connection that is not encrypted (LOGINDISABLED). The password was not sent."
            ),
            "Turn on a secure connection: Use Secure Connection (port 993) or STARTTLS (port 143).",
        )
    })
}

/// Explains a NO/BAD answer to LOGIN or AUTHENTICATE. `said` is every line the server sent
/// with it (untagged ALERTs, then the tagged answer without its tag), already redacted.
pub fn login_refused(said: &[String], target: &str, user: &str) -> Refusal {
    let tagged = said.last().map(String::as_str).unwrap_or("");
    let lower = said.join("\n").to_ascii_lowercase();
    // Microsoft 365 answers exactly this, without a response code, once basic authentication
    // is off for IMAP (the default everywhere now) — and also for a wrong password.
    let after_status = tagged
        .split_once(' ')
        .map_or("", |(_, rest)| rest)
        .trim()
        .to_ascii_lowercase();
    let microsoft = matches!(
        after_status.as_str(),
        "login failed." | "authenticate failed." | "login failed" | "authenticate failed"
    ) || lower.contains("basicauthblocked");
    if lower.contains("[privacyrequired]") {
        return Refusal::new(
            Category::LoginDisabled,
            format!("{target} refuses to log in over a connection that is not encrypted."),
            "Turn on a secure connection: Use Secure Connection (port 993) or STARTTLS (port 143).",
        );
    }
    if microsoft {
        return Refusal::new(
            Category::AuthOauthRequired,
            "Microsoft 365 refused the password: Microsoft has turned off password (basic) sign-in for IMAP, so this mailbox needs OAuth2 sign-in.",
            "Sign in with OAuth2 (Microsoft 365) for this mailbox; an app password does not help. Only if this is not Microsoft 365: check Mailbox (or Username) and Password.",
        );
    }
    let app_password = lower.contains("application-specific password")
        || lower.contains("app password")
        || lower.contains("[webalert")
        || lower.contains("web login required")
        || lower.contains("log in via your web browser")
        || lower.contains("oauth");
    if app_password {
        return Refusal::new(
            Category::AuthAppPasswordRequired,
            "The server rejected the password: this provider requires an app password or another sign-in method.",
            "Multi-factor authentication must be off for this mailbox, or create an app password with the mail provider and enter it as the password (or sign in with OAuth2 where the provider offers it).",
        );
    }
    Refusal::new(
        Category::AuthFailed,
        "Bad username or password",
        format!(
            "The server rejected the login for {user}: check Mailbox (or Username) and Password."
        ),
    )
}

/// The server takes no token: neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER is announced.
pub fn token_unavailable(caps: &[String], encrypted: bool, target: &str) -> Refusal {
    let has = |c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    let hint = if !encrypted && has("LOGINDISABLED") {
        "Turn on a secure connection (Use Secure Connection on port 993, or STARTTLS): this server offers sign-in only over an encrypted connection."
    } else {
        "This server does not support OAuth2 for IMAP: sign in with a password (or an app password) instead, or check Host (Microsoft 365: outlook.office365.com; Google: imap.gmail.com)."
    };
    Refusal::new(
        Category::OauthUnsupported,
        format!(
            "{target} offers no OAuth2 sign-in (neither AUTHENTICATE XOAUTH2 nor OAUTHBEARER is among its capabilities). The token was not sent."
        ),
        hint,
    )
}

/// Explains a NO answer to AUTHENTICATE XOAUTH2 / OAUTHBEARER. `challenge` is the base64 JSON
/// the server sent before it (RFC 7628 §3.2.2). Returns the refusal and the server's words for
/// the report (the decoded challenge, then the lines `said`).
pub fn token_refused(
    said: &[String],
    challenge: Option<&str>,
    target: &str,
    user: &str,
) -> (Refusal, String) {
    let decoded = challenge.and_then(sasl::decode_challenge);
    let mut shown: Vec<String> = Vec::new();
    match (&decoded, challenge) {
        (Some((json, _)), _) => shown.push(format!("+ {json}")),
        (None, Some(raw)) => shown.push(format!("+ {raw}")),
        _ => {}
    }
    shown.extend(said.iter().cloned());
    let shown = shown.join("\n");
    let tagged = said.last().map(String::as_str).unwrap_or("");
    let lower = said.join("\n").to_ascii_lowercase();
    if lower.contains("[unavailable]") {
        return (
            Refusal::new(
                Category::ProtocolError,
                format!(
                    "{target} could not check the access token just now (its sign-in service is unavailable)."
                ),
                "Try again later; if it persists, the mail server's link to the OAuth2 provider is broken.",
            ),
            shown,
        );
    }
    let after_status = tagged
        .split_once(' ')
        .map_or("", |(_, rest)| rest)
        .trim()
        .to_ascii_lowercase();
    let microsoft = after_status.starts_with("authenticate failed");
    let why = match &decoded {
        Some((_, words)) => format!(": {words}"),
        None => String::new(),
    };
    let refusal = if microsoft {
        Refusal::new(
            Category::AuthTokenRejected,
            format!("Microsoft 365 refused the access token for {user}{why}."),
            "Check in Microsoft 365 that IMAP is turned on for this mailbox (Exchange admin center → the mailbox → Email apps), that the app has the IMAP permission with consent (delegated: IMAP.AccessAsUser.All; app-only: IMAP.AccessAsApp, with the app's service principal registered in Exchange and granted the mailbox with Add-MailboxPermission), and that the account that signed in may open this mailbox; then sign in again.",
        )
    } else {
        Refusal::new(
            Category::AuthTokenRejected,
            format!("The server refused the access token for {user}{why}."),
            "The token must be issued for this mailbox's account (or one with access to it), carry the mail scope and not be expired or revoked: sign in again with the account of this mailbox.",
        )
    };
    (refusal, shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;

    fn redactor() -> Redactor {
        let mut r = Redactor::empty();
        let password = Login::Password(Secret::new("Pa\"ss-9931".into()));
        r.add("someone@example.com", "h", 1, &password);
        r
    }

    #[test]
    fn every_form_of_the_password_is_redacted() {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let r = redactor();
        let plain = STANDARD.encode(b"\0someone@example.com\0Pa\"ss-9931");
        let text = format!(
            "NO login Pa\"ss-9931 \"Pa\\\"ss-9931\" {plain} {}",
            STANDARD.encode("Pa\"ss-9931")
        );
        let out = r.clean(&text);
        assert!(!out.contains("ss-9931"), "{out}");
        assert!(!out.contains(&plain), "{out}");
        // Shortening happens after redaction: no head of the password survives a cut.
        let long = format!("{}Pa\"ss-9931", "x".repeat(295));
        assert!(!r.line(long.as_bytes()).contains("Pa\""));
    }

    #[test]
    fn parser_dumps_become_words() {
        let r = redactor();
        let lf = std::io::Error::other(
            "Error(Error { input: [42, 32], code: TakeWhile1 }) during parsing of \"* OK ready\\n\"",
        );
        let said = read_failure(&lf, "imap.example.com:993", "its greeting", &r);
        assert!(said.contains("bare line feed"), "{said}");
        assert!(!said.contains("TakeWhile"), "{said}");
        let huge = std::io::Error::other(
            "Error(Error { input: [57], code: MapRes }) during parsing of \"* 1 FETCH (UID 101 BODY[] {93000000000}\\r\\n\"",
        );
        let said = read_failure(&huge, "h:1", "an email", &r);
        assert!(said.contains("93 GB"), "{said}");
        let eof = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "bytes remaining in stream",
        );
        assert_eq!(
            read_failure(&eof, "h:1", "an email", &r),
            "h:1 closed the connection in the middle of an email."
        );
        let other = std::io::Error::other(
            "Error(Error { input: [1], code: Tag }) during parsing of \"\\u{1}\\r\\nrest\"",
        );
        let said = read_failure(&other, "h:1", "its answer", &r);
        assert!(
            said.contains("not valid IMAP") && said.contains("\\x01"),
            "{said}"
        );
    }

    #[test]
    fn microsoft_and_logindisabled_are_explained() {
        let r = login_refused(&["NO LOGIN failed.".into()], "h:1", "u");
        assert_eq!(r.category, Category::AuthOauthRequired);
        assert!(r.message.contains("OAuth2"));
        let r = login_refused(
            &["NO [AUTHENTICATIONFAILED] Authentication failed.".into()],
            "h:1",
            "u",
        );
        assert_eq!(r.category, Category::AuthFailed);
        let caps = vec!["IMAP4rev1".to_string(), "LOGINDISABLED".to_string()];
        let tls = login_unavailable(&caps, true, "h:1").unwrap();
        assert!(tls.message.contains("no password login at all"), "{tls:?}");
        assert!(!tls.hint.unwrap().contains("Turn on a secure connection"));
        let plain = login_unavailable(&caps, false, "h:1").unwrap();
        assert!(plain.hint.unwrap().contains("secure connection"));
        assert!(
            login_unavailable(&["AUTH=PLAIN".into(), "LOGINDISABLED".into()], true, "h").is_none()
        );
        assert_eq!(size_words(93_000_000_000), "93 GB");
    }
}

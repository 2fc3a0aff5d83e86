//! Parses one raw message (MIME) into the fields of a case. Never panics on bad input: a parser
//! panic is caught and reported as an error, and whatever could be read is kept. Content with
//! no header block (an Outlook `.msg` file, a pasted document) is "not an email". The body and
//! the attachments come from a walk of the whole MIME tree (`body`).
//!
//! A header that must appear once (From, Subject, To, Cc, Message-ID, Date…) but appears twice
//! is read from its FIRST occurrence: a second `From` appended by a relay or an attacker must
//! not replace the sender (mail-parser's accessors return the last one, so they are not used
//! for these).

use std::panic::AssertUnwindSafe;
use std::sync::LazyLock;

use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};
use sha2::{Digest, Sha256};

use super::address::mailbox_addresses;
use super::body;

/// One attachment, decoded.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What a case needs from an email.
#[derive(Debug, Clone, Default)]
pub struct ParsedEmail {
    pub message_id: Option<String>,
    pub subject: String,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub delivered_to: Vec<String>,
    pub x_original_to: Vec<String>,
    /// Unix milliseconds from the Date header.
    pub date: Option<i64>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The plain-text body: every inline text part, in order (HTML as text where it had no
    /// text alternative).
    pub text: String,
    /// The HTML of the body, kept for display (None when the email has no HTML body part).
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Raw header lines (name, value) for rules that read headers.
    pub headers: Vec<(String, String)>,
    /// SHA-256 of the whole raw message, hex.
    pub content_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message could not be read as MIME")]
    Unreadable,
    #[error("the MIME parser failed on this message")]
    ParserPanicked,
    #[error(
        "not an email: it has no header block (binary content such as an Outlook .msg file, not a MIME message)"
    )]
    NotAnEmail,
}

/// Header names of which at least one must appear in an email's header block.
const EMAIL_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "received",
    "return-path",
    "delivered-to",
    "mime-version",
    "content-type",
    "sender",
    "reply-to",
];

/// Whether `raw` starts with an RFC 5322 header block: its first line is a header field
/// (`Name: value`), the block holds no NUL byte, and it has one of the usual email headers.
pub fn looks_like_email(raw: &[u8]) -> bool {
    // An mbox separator line ("From sender date") is no header; the block starts after it.
    let raw = match raw.strip_prefix(b"From ") {
        Some(rest) => rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(&b""[..], |i| &rest[i + 1..]),
        None => raw,
    };
    let end = [&b"\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| memchr::memmem::find(raw, sep))
        .min()
        .map_or(raw.len(), |i| i + 1);
    let block = &raw[..end];
    if block.contains(&0) {
        return false;
    }
    let field_name = |line: &[u8]| -> Option<String> {
        let colon = line.iter().position(|b| *b == b':')?;
        let name = &line[..colon];
        let name = name.strip_suffix(b" ").unwrap_or(name);
        (!name.is_empty() && name.iter().all(|b| (33..=126).contains(b) && *b != b':'))
            .then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
    };
    let mut lines = block.split(|b| *b == b'\n');
    let Some(first) = lines.next().and_then(&field_name) else {
        return false;
    };
    std::iter::once(Some(first))
        .chain(
            lines
                .filter(|l| !l.starts_with(b" ") && !l.starts_with(b"\t"))
                .map(field_name),
        )
        .flatten()
        .any(|n| EMAIL_HEADERS.contains(&n.as_str()))
}

/// The parser: MIME, address, date, subject and message-id headers are parsed; every other
/// header is kept raw (they are read raw, from `headers`). Parsing all of them, `Received`
/// chains included, cost a good part of the parse.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_minimal_headers()
        .with_message_ids()
});

/// The parsed value of the first occurrence of a header of the message (not of a part).
fn first<'a>(message: &'a Message<'_>, name: HeaderName<'static>) -> Option<&'a HeaderValue<'a>> {
    message.header_values(name).next()
}

/// The raw text of the first occurrence of a header of the message.
fn first_raw(message: &Message<'_>, name: HeaderName<'static>) -> Option<String> {
    let h = message.headers().iter().find(|h| h.name == name)?;
    let bytes = message
        .raw_message
        .get(h.offset_start as usize..h.offset_end as usize)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// The addresses of the first occurrence of an address header.
fn addresses(message: &Message<'_>, name: HeaderName<'static>) -> Vec<String> {
    first_raw(message, name)
        .map(|raw| mailbox_addresses(&raw))
        .unwrap_or_default()
}

/// The first text of the first occurrence of a header (Subject, Message-ID).
fn first_text(message: &Message<'_>, name: HeaderName<'static>) -> Option<String> {
    match first(message, name)? {
        HeaderValue::Text(t) => Some(t.to_string()),
        HeaderValue::TextList(l) => l.first().map(|t| t.to_string()),
        _ => None,
    }
}

/// The sender's display name: mail-parser's name for the first mailbox of the first `From`,
/// when mail-parser read that mailbox's address as we did (so a name never belongs to another
/// address, and a quoted local part it misread is not taken for a name).
fn sender_name(message: &Message<'_>, sender: Option<&str>) -> Option<String> {
    let sender = sender?;
    let addr = first(message, HeaderName::From)?.as_address()?.first()?;
    let theirs = mailbox_addresses(addr.address()?);
    if !theirs.first()?.eq_ignore_ascii_case(sender) {
        return None;
    }
    addr.name()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Addresses from a simple header such as `Delivered-To` (one address per header line).
fn plain_addresses(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

impl ParsedEmail {
    pub fn parse(raw: &[u8]) -> Result<Self, ParseError> {
        if raw.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ParseError::Empty);
        }
        if !looks_like_email(raw) {
            return Err(ParseError::NotAnEmail);
        }
        std::panic::catch_unwind(AssertUnwindSafe(|| Self::parse_inner(raw)))
            .map_err(|_| ParseError::ParserPanicked)?
    }

    fn parse_inner(raw: &[u8]) -> Result<Self, ParseError> {
        let message = PARSER.parse(raw).ok_or(ParseError::Unreadable)?;
        let headers: Vec<(String, String)> = message
            .headers_raw()
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let from = addresses(&message, HeaderName::From).into_iter().next();
        let body::Body {
            text,
            html,
            attachments,
        } = body::extract(&message);
        Ok(Self {
            message_id: first_text(&message, HeaderName::MessageId),
            subject: first_text(&message, HeaderName::Subject)
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            from_name: sender_name(&message, from.as_deref()),
            from,
            to: addresses(&message, HeaderName::To),
            cc: addresses(&message, HeaderName::Cc),
            delivered_to: plain_addresses(&headers, "Delivered-To"),
            x_original_to: plain_addresses(&headers, "X-Original-To"),
            date: first(&message, HeaderName::Date)
                .and_then(HeaderValue::as_datetime)
                .map(|d| d.to_timestamp() * 1000),
            in_reply_to: first(&message, HeaderName::InReplyTo).map_or_else(Vec::new, id_list),
            references: first(&message, HeaderName::References).map_or_else(Vec::new, id_list),
            text,
            html,
            attachments,
            headers,
            content_hash: hex::encode(Sha256::digest(raw)),
        })
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> ParsedEmail {
        ParsedEmail::parse(raw).expect("an email")
    }

    /// The sender's address and display name.
    fn sender(p: &ParsedEmail) -> (Option<&str>, Option<&str>) {
        (p.from.as_deref(), p.from_name.as_deref())
    }

    #[test]
    fn reads_the_fields_of_a_case() {
        let raw = b"From: Ann Lee <ann@client.example>\r\nTo: Payroll <payroll@example.com>\r\nCc: hr@example.com\r\nDelivered-To: payroll+newhire@example.com\r\nSubject: New hire\r\nDate: Tue, 1 Sep 2026 10:00:00 +0000\r\nMessage-ID: <abc@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello WSID=12\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"w4.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let p = parsed(raw);
        assert_eq!(sender(&p), (Some("ann@client.example"), Some("Ann Lee")));
        assert_eq!(p.to, ["payroll@example.com"]);
        assert_eq!(p.cc, ["hr@example.com"]);
        assert_eq!(p.delivered_to, ["payroll+newhire@example.com"]);
        assert_eq!(p.subject, "New hire");
        assert_eq!(p.message_id.as_deref(), Some("abc@client.example"));
        assert_eq!(p.text, "Hello WSID=12");
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].name, "w4.pdf");
        assert_eq!(p.attachments[0].bytes, b"%PDF-");
        assert_eq!(p.date, Some(1_788_256_800_000));
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>";
        let p = parsed(raw);
        assert!(
            p.text.contains("Hello") && p.text.contains("there") && !p.text.contains("<b>"),
            "{}",
            p.text
        );
    }

    #[test]
    fn a_header_that_appears_twice_is_read_from_its_first_occurrence() {
        let raw = b"From: Ann Lee <ann@client.example>\r\nTo: payroll@example.com\r\nCc: hr@example.com\r\nSubject: New hire\r\nDate: Tue, 1 Sep 2026 10:00:00 +0000\r\nMessage-ID: <first@client.example>\r\nFrom: Mallory <mallory@evil.example>\r\nSubject: Wire the money\r\nTo: attacker@evil.example\r\nCc: spy@evil.example\r\nDate: Wed, 2 Sep 2026 10:00:00 +0000\r\nMessage-ID: <second@evil.example>\r\n\r\nHello\r\n";
        let p = parsed(raw);
        assert_eq!(sender(&p), (Some("ann@client.example"), Some("Ann Lee")));
        assert_eq!(p.subject, "New hire");
        assert_eq!(p.to, ["payroll@example.com"]);
        assert_eq!(p.cc, ["hr@example.com"]);
        assert_eq!(p.message_id.as_deref(), Some("first@client.example"));
        assert_eq!(p.date, Some(1_788_256_800_000));
        // The raw headers keep both, for rules that read them.
        assert_eq!(p.header("From"), Some("Ann Lee <ann@client.example>"));
    }

    #[test]
    fn a_second_from_without_a_name_does_not_lend_the_first_its_name() {
        let raw = b"From: ann@client.example\r\nFrom: Mallory <mallory@evil.example>\r\nSubject: x\r\n\r\nbody";
        let p = parsed(raw);
        assert_eq!(sender(&p), (Some("ann@client.example"), None));
    }

    #[test]
    fn a_quoted_local_part_is_kept() {
        let raw = b"From: \"john smith\"@example.org\r\nTo: \"pay roll\"@example.com, Payroll <payroll@example.com>\r\nSubject: x\r\n\r\nbody";
        let p = parsed(raw);
        assert_eq!(p.from.as_deref(), Some("\"john smith\"@example.org"));
        assert_eq!(
            p.from_name, None,
            "the quoted local part is no display name"
        );
        assert_eq!(p.to, ["\"pay roll\"@example.com", "payroll@example.com"]);

        let raw = b"From: John Smith <\"john smith\"@example.org>\r\nSubject: x\r\n\r\nbody";
        let p = parsed(raw);
        assert_eq!(
            sender(&p),
            (Some("\"john smith\"@example.org"), Some("John Smith"))
        );
    }

    #[test]
    fn encoded_display_names_and_groups_still_read() {
        let raw = b"From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@example.org>\r\nTo: undisclosed-recipients:;\r\nCc: Team: a@example.org, b@example.org;\r\nSubject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nbody";
        let p = parsed(raw);
        assert_eq!(sender(&p), (Some("j@example.org"), Some("Jürgen Müller")));
        assert!(p.to.is_empty());
        assert_eq!(p.cc, ["a@example.org", "b@example.org"]);
        assert_eq!(p.subject, "Grüße");
    }

    #[test]
    fn empty_input_is_an_error_not_a_panic() {
        assert!(ParsedEmail::parse(b"").is_err());
        assert!(ParsedEmail::parse(b"\r\n\r\n").is_err());
        // Garbage still parses into something (headers missing), never a panic.
        let _ = ParsedEmail::parse(&[0xff, 0xfe, 0x00, 0x41, b'\n', b'\n', 0x80]);
    }
}

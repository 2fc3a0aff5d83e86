//! Parses one raw message (MIME) into the fields of a case. Never panics on bad input: a parser
//! panic is caught and reported as an error, and whatever could be read is kept.

use std::panic::AssertUnwindSafe;
use std::sync::LazyLock;

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

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
    /// The plain-text body (from HTML when there is no text part).
    pub text: String,
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
}

/// The parser: MIME, address, date, subject and message-id headers are parsed; every other
/// header is kept raw (they are read raw, from `headers`). Parsing all of them, `Received`
/// chains included, cost a good part of the parse.
static PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .with_minimal_headers()
        .with_message_ids()
});

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|addr| addr.address())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .unwrap_or_default()
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
        std::panic::catch_unwind(AssertUnwindSafe(|| Self::parse_inner(raw)))
            .map_err(|_| ParseError::ParserPanicked)?
    }

    fn parse_inner(raw: &[u8]) -> Result<Self, ParseError> {
        let message = PARSER.parse(raw).ok_or(ParseError::Unreadable)?;
        let headers: Vec<(String, String)> = message
            .headers_raw()
            .map(|(n, v)| (n.to_string(), v.trim().to_string()))
            .collect();
        let from = message.from().and_then(|a| a.first());
        let mut text = message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default();
        // Trimmed in place (the body is most of the email: no second copy).
        let end = text.trim_end().len();
        text.truncate(end);
        let start = text.len() - text.trim_start().len();
        text.drain(..start);
        let attachments = message
            .attachments()
            .map(|part| Attachment {
                name: part
                    .attachment_name()
                    .map(str::to_string)
                    .unwrap_or_else(|| "attachment".to_string()),
                content_type: part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".into()),
                bytes: part.contents().to_vec(),
            })
            .collect();
        Ok(Self {
            message_id: message.message_id().map(str::to_string),
            subject: message.subject().unwrap_or("").trim().to_string(),
            from: from.and_then(|a| a.address()).map(str::to_string),
            from_name: from.and_then(|a| a.name()).map(str::to_string),
            to: addresses(message.to()),
            cc: addresses(message.cc()),
            delivered_to: plain_addresses(&headers, "Delivered-To"),
            x_original_to: plain_addresses(&headers, "X-Original-To"),
            date: message.date().map(|d| d.to_timestamp() * 1000),
            in_reply_to: id_list(message.in_reply_to()),
            references: id_list(message.references()),
            text,
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

    #[test]
    fn reads_the_fields_of_a_case() {
        let raw = b"From: Ann Lee <ann@client.example>\r\nTo: Payroll <payroll@example.com>\r\nCc: hr@example.com\r\nDelivered-To: payroll+newhire@example.com\r\nSubject: New hire\r\nDate: Tue, 1 Sep 2026 10:00:00 +0000\r\nMessage-ID: <abc@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello WSID=12\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"w4.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";
        let p = ParsedEmail::parse(raw).unwrap();
        assert_eq!(p.from.as_deref(), Some("ann@client.example"));
        assert_eq!(p.from_name.as_deref(), Some("Ann Lee"));
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
        let p = ParsedEmail::parse(raw).unwrap();
        assert!(
            p.text.contains("Hello") && p.text.contains("there") && !p.text.contains("<b>"),
            "{}",
            p.text
        );
    }

    #[test]
    fn empty_input_is_an_error_not_a_panic() {
        assert!(ParsedEmail::parse(b"").is_err());
        assert!(ParsedEmail::parse(b"\r\n\r\n").is_err());
        // Garbage still parses into something (headers missing), never a panic.
        let _ = ParsedEmail::parse(&[0xff, 0xfe, 0x00, 0x41, b'\n', b'\n', 0x80]);
    }
}

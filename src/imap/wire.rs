//! Byte-level pieces of a connection: a stream that remembers the first bytes it read (to say
//! what a server answered when TLS failed), reading one line with a size cap, what a first line
//! says about the server, and IMAP quoting. Pure functions where possible; no timeouts here
//! (the caller wraps every read in one).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::domain::quoted_string;

/// Everything a connection needs; boxed so TLS and plain streams are one type.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
pub type BoxIo = Box<dyn Io>;

const RECORD_LIMIT: usize = 512;

/// Passes everything through and keeps a copy of the first bytes read.
#[derive(Debug)]
pub struct Recording<S> {
    inner: S,
    pub seen: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recording<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            seen: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            let mut seen = self.seen.lock().expect("recording");
            let room = RECORD_LIMIT.saturating_sub(seen.len());
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The longest first line we read before deciding it is not IMAP.
pub const MAX_GREETING: usize = 4096;

/// Reads one line (through `\n`) into `buf`, byte by byte so nothing past it is consumed;
/// `buf` is shared so a caller that gave up (timeout) still sees the partial line.
/// Returns `true` for a whole line, `false` at end of stream or when the cap is reached.
pub async fn read_line<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buf: &Mutex<Vec<u8>>,
) -> std::io::Result<bool> {
    let mut byte = [0u8; 1];
    loop {
        if buf.lock().expect("line buffer").len() >= MAX_GREETING {
            return Ok(false);
        }
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            return Ok(false);
        }
        buf.lock().expect("line buffer").push(byte[0]);
        if byte[0] == b'\n' {
            return Ok(true);
        }
    }
}

/// What the first bytes from a server say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstLine {
    /// `* OK …`: an IMAP server ready for login.
    Ok,
    /// `* PREAUTH …`: already logged in (rare; some tunnels).
    Preauth,
    /// `* BYE …`: the server refuses the connection.
    Bye,
    /// A TLS record: the port expects TLS from the first byte.
    Tls,
    /// Another protocol, or garbage: a description of what it is.
    NotImap(&'static str),
}

pub fn classify_first_line(bytes: &[u8]) -> FirstLine {
    let upper = |n: usize| -> String {
        String::from_utf8_lossy(&bytes[..bytes.len().min(n)]).to_ascii_uppercase()
    };
    let head = upper(16);
    if bytes.len() >= 2 && matches!(bytes[0], 0x14..=0x17) && bytes[1] == 0x03 {
        return FirstLine::Tls;
    }
    if head.starts_with("* OK") {
        FirstLine::Ok
    } else if head.starts_with("* PREAUTH") {
        FirstLine::Preauth
    } else if head.starts_with("* BYE") {
        FirstLine::Bye
    } else if head.starts_with("220") || head.starts_with("554 ") || head.starts_with("421 ") {
        FirstLine::NotImap("an SMTP (mail sending) server")
    } else if head.starts_with("HTTP/")
        || head.starts_with("<!DOCTYPE")
        || head.starts_with("<HTML")
    {
        FirstLine::NotImap("a web (HTTP) server")
    } else if head.starts_with("+OK") || head.starts_with("-ERR") {
        FirstLine::NotImap("a POP3 server")
    } else if head.starts_with("SSH-") {
        FirstLine::NotImap("an SSH server")
    } else if head.starts_with("* ") {
        FirstLine::NotImap("a server that does not greet like IMAP")
    } else if bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b" \r\n\t".contains(b))
    {
        FirstLine::NotImap("a server speaking another protocol")
    } else {
        FirstLine::NotImap("a server sending bytes that are not text")
    }
}

/// Bytes from a server as one printable line: line breaks inside shown as ` ⏎ `, other control
/// and invalid bytes escaped, cut at 300 characters.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches(['\r', '\n']);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if out.chars().count() >= 300 {
            out.push('…');
            break;
        }
        match c {
            // A line break inside a multi-line answer stays one line, readable.
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => out.push_str(" ⏎ "),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

/// An IMAP quoted string, or `None` when the value cannot be one (line breaks, NUL).
pub fn quoted(value: &str) -> Option<String> {
    if value.contains(['\r', '\n', '\0']) {
        return None;
    }
    Some(quoted_string(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines_are_recognised() {
        assert_eq!(
            classify_first_line(b"* OK [CAPABILITY IMAP4rev1] ready\r\n"),
            FirstLine::Ok
        );
        assert_eq!(classify_first_line(b"* BYE go away\r\n"), FirstLine::Bye);
        assert_eq!(
            classify_first_line(b"220 mx.example.com ESMTP Postfix\r\n"),
            FirstLine::NotImap("an SMTP (mail sending) server")
        );
        assert_eq!(
            classify_first_line(b"HTTP/1.1 400 Bad Request\r\n"),
            FirstLine::NotImap("a web (HTTP) server")
        );
        assert_eq!(
            classify_first_line(&[0x15, 0x03, 0x03, 0, 2]),
            FirstLine::Tls
        );
        assert_eq!(
            classify_first_line(&[0xff, 0x00, 0x13]),
            FirstLine::NotImap("a server sending bytes that are not text")
        );
    }

    #[test]
    fn quoting_escapes_and_refuses_line_breaks() {
        assert_eq!(quoted(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert!(quoted("a\nb").is_none());
        assert_eq!(printable(b"a\x01b\r\n"), "a\\x01b");
        assert_eq!(printable(b"* OK hi\r\n* BYE\r\n"), "* OK hi ⏎ * BYE");
        assert_eq!(printable(b"a\rb\nc"), "a\\x0db ⏎ c");
    }
}

//! The body and the attachments of a parsed email, from a walk of its whole MIME tree, so that
//! nothing in it is lost: every inline text part goes into the body text, in order, with a plain
//! separator between parts; HTML becomes text (through a real HTML parser, `html2text`) only
//! where no text alternative exists, and the HTML itself is kept for display; every other leaf
//! part becomes an attachment. Body leaves plus attachments account for every leaf of the tree.
//!
//! RFC fallbacks: `text` with no subtype and unknown `text/*` read as `text/plain` (RFC 2045
//! §5.2, RFC 2046 §4.1.4); parts of a `multipart/digest` default to `message/rfc822` (RFC 2046
//! §5.1.5); a multipart whose boundary never matches is read as text; an attached
//! `message/rfc822` is one attachment holding exactly its bytes, named by its subject.
//!
//! Must not decide anything about routing or storage; works only on mail-parser's tree.

use std::borrow::Cow;

use mail_parser::{
    Encoding, HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::parse::Attachment;

/// Put between two text parts of the body.
pub const PART_SEPARATOR: &str = "\n\n---\n\n";
/// Put between two HTML parts kept for display.
const HTML_SEPARATOR: &str = "\n<hr>\n";
/// Deeper multipart nesting than this is not walked further (its leaves become attachments).
const MAX_DEPTH: usize = 64;
/// Text subtypes that are data, not prose: kept as attachments, never read into the body.
const DATA_TEXT: &[&str] = &[
    "calendar",
    "vcard",
    "x-vcard",
    "directory",
    "csv",
    "tab-separated-values",
    "xml",
    "rtf",
    "css",
    "javascript",
    "x-vcalendar",
];

/// What the walk found.
#[derive(Debug, Default)]
pub struct Body {
    /// Every inline text part (HTML turned into text where it had no text alternative).
    pub text: String,
    /// The HTML parts of the body, for display (none when the email has no HTML).
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// A part's type as the RFCs read it: `(type, subtype)`, lower case.
fn effective_type(part: &MessagePart<'_>, in_digest: bool) -> (String, String) {
    match part.content_type() {
        Some(ct) => {
            let ctype = ct.ctype().to_ascii_lowercase();
            let sub = ct.subtype().map(str::to_ascii_lowercase);
            match (ctype.as_str(), sub) {
                // RFC 2045 §5.2: an unusable Content-Type is text/plain.
                ("text", None) | ("", _) => ("text".into(), "plain".into()),
                (_, Some(sub)) => (ctype, sub),
                (_, None) => (ctype, String::new()),
            }
        }
        None if in_digest => ("message".into(), "rfc822".into()),
        None => ("text".into(), "plain".into()),
    }
}

/// Whether the sender marked a part as a file rather than as part of the message.
fn is_attached(part: &MessagePart<'_>) -> bool {
    match part.content_disposition() {
        Some(d) if d.is_attachment() => true,
        Some(d) if d.is_inline() => false,
        _ => part.attachment_name().is_some_and(|n| !n.trim().is_empty()),
    }
}

/// A file name with no path and no control characters, or None.
fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string();
    (!clean.is_empty() && clean != "." && clean != "..").then_some(clean)
}

/// The usual file extension of a type (for parts that carry no name).
fn extension(ctype: &str, sub: &str) -> &'static str {
    match (ctype, sub) {
        ("text", "html") => "html",
        ("text", "calendar") => "ics",
        ("text", "csv") => "csv",
        ("text", "vcard" | "x-vcard") => "vcf",
        ("text", _) => "txt",
        ("message", "rfc822" | "global") => "eml",
        ("message", _) => "txt",
        ("image", "jpeg" | "jpg") => "jpg",
        ("image", "png") => "png",
        ("image", "gif") => "gif",
        ("application", "pdf") => "pdf",
        ("application", "ics") => "ics",
        _ => "bin",
    }
}

/// The subject of an attached email, for its name.
fn inner_subject(bytes: &[u8]) -> Option<String> {
    let headers = MessageParser::new().parse_headers(bytes)?;
    let subject = headers
        .header_values(HeaderName::Subject)
        .next()?
        .as_text()?
        .trim()
        .to_string();
    (!subject.is_empty()).then_some(subject)
}

/// Deeper HTML than this is read by `strip_tags` instead: HTML parsing costs grow with the
/// square of the nesting depth (20,000 levels take seconds).
const MAX_HTML_DEPTH: usize = 1_000;

/// Elements that never hold others, or that the next one of their kind closes: they add no
/// depth however often they appear unclosed.
const FLAT_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "td", "th", "tr", "option", "dt", "dd", "!doctype", "!--",
];

/// The deepest nesting of elements in `html`, as far as opening and closing tags tell
/// (a cheap, linear estimate).
fn html_depth(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    for i in memchr::memchr_iter(b'<', bytes) {
        let rest = &bytes[i + 1..];
        if let Some(after) = rest.strip_prefix(b"/") {
            if after.first().is_some_and(u8::is_ascii_alphabetic) {
                depth = depth.saturating_sub(1);
            }
            continue;
        }
        if !rest
            .first()
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'!')
        {
            continue;
        }
        let name_end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
            .unwrap_or(rest.len());
        let name = String::from_utf8_lossy(&rest[..name_end.min(16)]).to_ascii_lowercase();
        if FLAT_ELEMENTS.contains(&name.as_str()) || name.starts_with("!--") {
            continue;
        }
        depth += 1;
        deepest = deepest.max(depth);
    }
    deepest
}

/// HTML as plain text, read with a real HTML parser (so `<body>` ends an unclosed `<head>`).
pub fn html_to_text(html: &str) -> String {
    if html_depth(html) > MAX_HTML_DEPTH {
        return strip_tags(html);
    }
    html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .allow_width_overflow()
        .no_table_borders()
        .string_from_read(html.as_bytes(), 10_000)
        .map(|t| t.lines().map(str::trim_end).collect::<Vec<_>>().join("\n"))
        .unwrap_or_else(|_| strip_tags(html))
}

/// The last resort when the HTML renderer gives up: the text between tags.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

struct Walk<'m, 'x> {
    message: &'m Message<'x>,
    texts: Vec<Cow<'m, str>>,
    html: Vec<String>,
    attachments: Vec<Attachment>,
}

/// How a leaf is read where it stands.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// In the message (or in the chosen alternative): text goes into the body.
    Body,
    /// In an alternative that was not chosen: its HTML is kept for display, the rest attached.
    OtherAlternative,
}

impl<'m> Walk<'m, '_> {
    fn part(&self, id: u32) -> Option<&'m MessagePart<'m>> {
        self.message.parts.get(id as usize)
    }

    /// The children of a multipart part (ids after its own, so the walk always ends).
    fn children(&self, id: u32) -> Vec<u32> {
        match self.part(id).map(|p| &p.body) {
            Some(PartType::Multipart(ids)) => ids.iter().copied().filter(|c| *c > id).collect(),
            _ => Vec::new(),
        }
    }

    fn walk(&mut self, id: u32, in_digest: bool, place: Place, depth: usize) {
        let Some(part) = self.part(id) else { return };
        let (ctype, sub) = effective_type(part, in_digest);
        if let PartType::Multipart(_) = part.body {
            let children = self.children(id);
            if depth >= MAX_DEPTH {
                for c in children {
                    self.attach_subtree(c);
                }
                return;
            }
            if sub == "alternative" && place == Place::Body {
                self.alternative(&children, depth);
            } else {
                for c in children {
                    self.walk(c, sub == "digest", place, depth + 1);
                }
            }
            return;
        }
        self.leaf(id, &ctype, &sub, place);
    }

    /// Every leaf below `id` as an attachment (too deep to read).
    fn attach_subtree(&mut self, id: u32) {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            let children = self.children(id);
            if children.is_empty() {
                if let Some(part) = self.part(id) {
                    let (ctype, sub) = effective_type(part, false);
                    self.attach(id, &ctype, &sub);
                }
            } else {
                stack.extend(children.into_iter().rev());
            }
        }
    }

    /// A multipart/alternative: the first alternative with plain text is read into the body
    /// (else the first with HTML); the others keep their HTML for display and attach the rest.
    fn alternative(&mut self, children: &[u32], depth: usize) {
        let chosen = children
            .iter()
            .find(|c| self.has(**c, false, 0))
            .or_else(|| children.iter().find(|c| self.has(**c, true, 0)))
            .copied();
        for &c in children {
            let place = if Some(c) == chosen || chosen.is_none() {
                Place::Body
            } else {
                Place::OtherAlternative
            };
            self.walk(c, false, place, depth + 1);
        }
    }

    /// Whether the subtree at `id` has a body text part (`html`: an HTML one).
    fn has(&self, id: u32, html: bool, depth: usize) -> bool {
        let Some(part) = self.part(id) else {
            return false;
        };
        if depth > MAX_DEPTH {
            return false;
        }
        if let PartType::Multipart(_) = part.body {
            return self
                .children(id)
                .into_iter()
                .any(|c| self.has(c, html, depth + 1));
        }
        let (ctype, sub) = effective_type(part, false);
        match text_role(part, &ctype, &sub) {
            Some(TextRole::Html) => html,
            Some(TextRole::Plain) => !html,
            None => false,
        }
    }

    fn leaf(&mut self, id: u32, ctype: &str, sub: &str, place: Place) {
        let Some(part) = self.part(id) else { return };
        let role = text_role(part, ctype, sub);
        let text = match &part.body {
            PartType::Text(t) | PartType::Html(t) => Some(t.as_ref()),
            _ => None,
        };
        match (role, text, place) {
            (Some(TextRole::Plain), Some(t), Place::Body) => {
                self.texts.push(Cow::Borrowed(t));
            }
            (Some(TextRole::Html), Some(t), Place::Body) => {
                self.texts.push(Cow::Owned(html_to_text(t)));
                self.html.push(t.to_string());
            }
            (Some(TextRole::Html), Some(t), Place::OtherAlternative) => {
                self.html.push(t.to_string());
            }
            _ => self.attach(id, ctype, sub),
        }
    }

    /// One leaf as an attachment: its decoded bytes (an attached email: exactly its bytes).
    fn attach(&mut self, id: u32, ctype: &str, sub: &str) {
        let Some(part) = self.part(id) else { return };
        let number = self.attachments.len() + 1;
        let (bytes, ctype, sub): (Cow<'_, [u8]>, &str, &str) = match &part.body {
            PartType::Message(inner) => {
                let bytes = match part.encoding {
                    Encoding::None => self
                        .message
                        .raw_message
                        .get(part.offset_body as usize..part.offset_end as usize)
                        .map_or_else(|| Cow::Borrowed(inner.raw_message()), Cow::Borrowed),
                    _ => Cow::Borrowed(inner.raw_message.as_ref()),
                };
                let (ctype, sub) = if ctype == "message" {
                    (ctype, sub)
                } else {
                    ("message", "rfc822")
                };
                (bytes, ctype, sub)
            }
            PartType::Multipart(_) => (Cow::Borrowed(&b""[..]), ctype, sub),
            _ => (Cow::Borrowed(part.contents()), ctype, sub),
        };
        let name = part
            .attachment_name()
            .and_then(clean_name)
            .or_else(|| {
                (ctype == "message" && matches!(sub, "rfc822" | "global"))
                    .then(|| inner_subject(&bytes))
                    .flatten()
                    .and_then(|s| clean_name(&format!("{}.eml", s.replace(['/', '\\'], "-"))))
            })
            .unwrap_or_else(|| format!("part-{number}.{}", extension(ctype, sub)));
        let content_type = if sub.is_empty() {
            ctype.to_string()
        } else {
            format!("{ctype}/{sub}")
        };
        self.attachments.push(Attachment {
            name,
            content_type,
            bytes: bytes.into_owned(),
        });
    }
}

enum TextRole {
    Plain,
    Html,
}

/// Whether a leaf is body text, and which kind: inline (not marked as a file), typed `text/*`
/// (not one of the data types), or a multipart whose boundary never matched (read as text).
fn text_role(part: &MessagePart<'_>, ctype: &str, sub: &str) -> Option<TextRole> {
    if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) || is_attached(part) {
        return None;
    }
    match ctype {
        "multipart" => Some(TextRole::Plain),
        "text" if sub == "html" => Some(TextRole::Html),
        "text" if DATA_TEXT.contains(&sub) => None,
        "text" => Some(TextRole::Plain),
        _ => None,
    }
}

/// Walks the whole tree of `message`.
pub fn extract(message: &Message<'_>) -> Body {
    let mut walk = Walk {
        message,
        texts: Vec::new(),
        html: Vec::new(),
        attachments: Vec::new(),
    };
    if !message.parts.is_empty() {
        walk.walk(0, false, Place::Body, 0);
    }
    let parts: Vec<&str> = walk
        .texts
        .iter()
        .map(|t| t.trim_matches(|c: char| c.is_whitespace()))
        .filter(|t| !t.is_empty())
        .collect();
    Body {
        text: parts.join(PART_SEPARATOR),
        html: (!walk.html.is_empty()).then(|| walk.html.join(HTML_SEPARATOR)),
        attachments: walk.attachments,
    }
}

#[cfg(test)]
mod tests;

//! The addresses of an address header (From, To, Cc; RFC 5322 §3.4), read from its raw value:
//! one `local@domain` per mailbox, groups opened, comments and display names dropped, and a
//! quoted local part kept (`"john smith"@example.org`, which mail-parser reads as `@example.org`).
//!
//! Owns only the addr-spec; display names (with their RFC 2047 encoded words) are mail-parser's.
//! Must not validate the domain (that is `domain::EmailAddress`) nor fail: what cannot be read is
//! left out.

use crate::domain::EmailAddress;

/// Every mailbox address of a raw header value, in order. An entry without `@`, or with nothing
/// before or after it, is left out (`To: undisclosed-recipients:;` has none).
pub fn mailbox_addresses(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = Mailbox::default();
    let mut chars = raw.chars();
    let mut in_angle = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let text = current.text(in_angle);
                text.push('"');
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            text.push('\\');
                            if let Some(e) = chars.next() {
                                text.push(e);
                            }
                        }
                        '"' => break,
                        '\r' | '\n' => {}
                        q => text.push(q),
                    }
                }
                text.push('"');
            }
            '[' => {
                // A domain literal (`ann@[192.0.2.1]`): its `:` and `.` are no separators.
                let text = current.text(in_angle);
                text.push('[');
                for q in chars.by_ref() {
                    match q {
                        ']' => break,
                        '\r' | '\n' => {}
                        q => text.push(q),
                    }
                }
                text.push(']');
            }
            '(' => {
                // A comment (they nest); it separates words like a space.
                let mut depth = 1;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                current.text(in_angle).push(' ');
            }
            '<' if !in_angle => {
                in_angle = true;
                current.angle = Some(String::new());
            }
            '>' if in_angle => in_angle = false,
            ',' | ';' if !in_angle => {
                out.extend(current.finish());
                current = Mailbox::default();
            }
            ':' if !in_angle => {
                // A group's name: what came before was no mailbox.
                current = Mailbox::default();
            }
            '\r' | '\n' => current.text(in_angle).push(' '),
            c if c.is_whitespace() => current.text(in_angle).push(' '),
            c => current.text(in_angle).push(c),
        }
    }
    out.extend(current.finish());
    out
}

/// The text of one mailbox: outside angle brackets, and inside them if it has any.
#[derive(Default)]
struct Mailbox {
    outside: String,
    angle: Option<String>,
}

impl Mailbox {
    fn text(&mut self, in_angle: bool) -> &mut String {
        match (&mut self.angle, in_angle) {
            (Some(a), true) => a,
            _ => &mut self.outside,
        }
    }

    fn finish(self) -> Option<String> {
        match self.angle {
            Some(a) => {
                // An obsolete source route (`<@relay:ann@example.org>`) is not the address.
                let a = match a.trim_start().strip_prefix('@') {
                    Some(rest) => rest.split_once(':').map_or(a.as_str(), |(_, addr)| addr),
                    None => a.as_str(),
                };
                addr_spec(a)
            }
            None => {
                // No angle brackets: the whole text is the address, though a malformed header
                // may put words before it (`Ann Lee ann@example.org`): then the last word
                // group with an @ is the address.
                let words = words(&self.outside);
                let mut groups: Vec<String> = Vec::new();
                for w in words {
                    match groups.last_mut() {
                        Some(g)
                            if g.ends_with('.')
                                || g.ends_with('@')
                                || w.starts_with('.')
                                || w.starts_with('@') =>
                        {
                            g.push_str(&w)
                        }
                        _ => groups.push(w),
                    }
                }
                let chosen = groups
                    .iter()
                    .rev()
                    .find(|g| split_at_unquoted_at(g).is_some())?;
                addr_spec(chosen)
            }
        }
    }
}

/// Whitespace-separated words, a quoted string counting as part of its word.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        if quoted {
            word.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            ' ' => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            '"' => {
                quoted = true;
                word.push(c);
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// The last `@` that is not inside a quoted string: (local, domain).
fn split_at_unquoted_at(s: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut escaped = false;
    let mut at = None;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == '@' && !quoted {
            at = Some(i);
        }
    }
    let i = at?;
    Some((&s[..i], &s[i + 1..]))
}

/// `local@domain` from an addr-spec's text: spaces outside quotes dropped (obsolete syntax
/// allows them around dots), the local part's quoted words joined and quoted again only when
/// needed.
fn addr_spec(text: &str) -> Option<String> {
    let joined: String = words(text).concat();
    let (local, domain) = split_at_unquoted_at(&joined)?;
    let domain = domain.trim();
    if domain.is_empty() || local.is_empty() {
        return None;
    }
    // The local part's text without quotes and escapes (`"john".smith` → `john.smith`).
    let mut content = String::with_capacity(local.len());
    let mut quoted = false;
    let mut chars = local.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => content.extend(chars.next()),
            c => content.push(c),
        }
    }
    if content.is_empty() && !local.contains('"') {
        return None;
    }
    let local = if local.contains('"') {
        EmailAddress::local_part_for(&content)
    } else {
        content
    };
    Some(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: &str) -> Vec<String> {
        mailbox_addresses(raw)
    }

    #[test]
    fn reads_plain_named_and_listed_addresses() {
        assert_eq!(read(" ann@example.org"), ["ann@example.org"]);
        assert_eq!(read("Ann Lee <ann@example.org>"), ["ann@example.org"]);
        assert_eq!(
            read("\"Lee, Ann\" <ann@example.org>, bob@example.org (Bob)"),
            ["ann@example.org", "bob@example.org"]
        );
        assert_eq!(
            read("=?utf-8?Q?J=C3=BCrgen?= <j@example.org>,\r\n\tBo <bo@example.org>"),
            ["j@example.org", "bo@example.org"]
        );
        assert_eq!(
            read("Team: ann@example.org, Bo <bo@example.org>;, carl@example.org"),
            ["ann@example.org", "bo@example.org", "carl@example.org"]
        );
        assert!(read("undisclosed-recipients:;").is_empty());
        assert!(read("Undisclosed recipients").is_empty());
        assert!(read("").is_empty());
        assert_eq!(
            read("<@relay.example:ann@example.org>"),
            ["ann@example.org"]
        );
        assert_eq!(read("ann(comment)@example.org"), ["ann@example.org"]);
        assert_eq!(read("Ann Lee ann@example.org"), ["ann@example.org"]);
        assert_eq!(
            read("MAILER-DAEMON@mx.example"),
            ["MAILER-DAEMON@mx.example"]
        );
        assert_eq!(
            read("ann@[IPv6:2001:db8::1], bo@example.org"),
            ["ann@[IPv6:2001:db8::1]", "bo@example.org"]
        );
    }

    #[test]
    fn keeps_a_quoted_local_part() {
        assert_eq!(
            read("\"john smith\"@example.org"),
            ["\"john smith\"@example.org"]
        );
        assert_eq!(
            read("John <\"john smith\"@example.org>"),
            ["\"john smith\"@example.org"]
        );
        assert_eq!(
            read("\"john smith\"@example.org, \"a\\\"b\"@example.org"),
            ["\"john smith\"@example.org", "\"a\\\"b\"@example.org"]
        );
        // Quotes that are not needed are dropped; obsolete spaces around dots too.
        assert_eq!(read("\"ann\"@example.org"), ["ann@example.org"]);
        assert_eq!(
            read("\"john\".smith@example.org"),
            ["john.smith@example.org"]
        );
        assert_eq!(
            read("john . smith @ example.org"),
            ["john.smith@example.org"]
        );
        // A quoted @ is part of the local part.
        assert_eq!(read("\"a@b\"@example.org"), ["\"a@b\"@example.org"]);
    }
}

//! `EmailAddress`: `local@domain`, no display name, no spaces, IDN domains allowed. Addresses
//! read from received mail may also have a quoted local part (`"john smith"@example.org`).
//!
//! Keeps the address as the user wrote it (trimmed) for display, and a lower-cased key for
//! case-insensitive comparison and uniqueness. Must not do I/O.

use std::fmt;

use super::credential::dns_name_to_ascii;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress {
    display: String,
    key: String,
}

/// Why a string is not an address; the caller adds the field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailError(pub &'static str);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError("is empty"));
        }
        if s.contains('<') || s.contains('>') || s.contains('"') {
            return Err(EmailError(
                "must be the address alone (local@domain), without a display name or angle brackets",
            ));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(EmailError("must not contain spaces"));
        }
        if s.chars().any(char::is_control) {
            return Err(EmailError("must not contain control characters"));
        }
        if s.len() > 254 {
            return Err(EmailError("must be at most 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(EmailError("must have the form local@domain"));
        };
        if local.is_empty() || domain.is_empty() {
            return Err(EmailError("must have the form local@domain"));
        }
        if local.len() > 64 {
            return Err(EmailError(
                "the part before @ must be at most 64 characters",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError(
                "the part before @ must not start or end with a dot or have two dots in a row",
            ));
        }
        if !local.chars().all(is_atom_char) {
            return Err(EmailError(
                "the part before @ has a character that is not allowed (such as @ , ; : ( ) [ ] \\)",
            ));
        }
        check_domain(domain)?;
        let display = format!("{local}@{domain}");
        let key = display.to_lowercase();
        Ok(Self { display, key })
    }

    /// An address read from received mail (From, To, Cc…): like `parse`, and the local part may
    /// also be a quoted string (RFC 5321: `"john smith"@example.org`). The quotes are kept
    /// where they are needed and dropped where they are not (`"ann"@example.org` is
    /// `ann@example.org`), so one mailbox has one form.
    pub fn parse_mail(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if !s.starts_with('"') {
            return Self::parse(s);
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(EmailError("must have the form local@domain"));
        };
        let content = unquote(local).ok_or(EmailError(
            "the quoted part before @ must be one quoted string (\"…\") without line breaks",
        ))?;
        if domain.is_empty() {
            return Err(EmailError("must have the form local@domain"));
        }
        let local = local_part(&content);
        if local.len() > 64 {
            return Err(EmailError(
                "the part before @ must be at most 64 characters",
            ));
        }
        check_domain(domain)?;
        let display = format!("{local}@{domain}");
        if display.len() > 254 {
            return Err(EmailError("must be at most 254 characters"));
        }
        let key = display.to_lowercase();
        Ok(Self { display, key })
    }

    /// The local part (before @) that stands for the text `content`: `content` itself when it
    /// needs no quotes (`john.smith`), else quoted (`"john smith"`).
    pub fn local_part_for(content: &str) -> String {
        local_part(content)
    }

    /// The address as entered, for display and as the IMAP login name.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Lower-cased form: equal keys mean the same mailbox.
    pub fn key(&self) -> &str {
        &self.key
    }
}

fn is_atom_char(c: char) -> bool {
    const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-.";
    c.is_alphanumeric() || SPECIALS.contains(c) || !c.is_ascii()
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    let ascii_domain = dns_name_to_ascii(domain).map_err(|_| {
        EmailError("the domain after @ is not a valid domain name (such as example.com)")
    })?;
    if !ascii_domain.contains('.') {
        return Err(EmailError(
            "the domain after @ must be a full domain name (such as example.com)",
        ));
    }
    Ok(())
}

/// Whether `s` is a dot-atom (`john.smith`), which needs no quotes as a local part.
fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(|c| c != '.' && is_atom_char(c)))
}

/// The local part for the (unquoted) text `content`: itself when it is a dot-atom, else
/// quoted, with `"` and `\` escaped.
fn local_part(content: &str) -> String {
    if is_dot_atom(content) {
        return content.to_string();
    }
    quoted_string(content)
}

/// `content` as a quoted string, with `"` and `\` escaped: the same rule in an address (RFC
/// 5322) and in an IMAP command (RFC 3501).
pub fn quoted_string(content: &str) -> String {
    format!("\"{}\"", content.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The text of one quoted string (`"john \"j\" smith"` → `john "j" smith`); `None` when `s` is
/// not exactly one quoted string or holds a control character.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => chars.next()?,
            '"' => return None,
            c => c,
        };
        if c.is_control() && c != '\t' {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_plus_and_idn_addresses() {
        for ok in [
            "payroll@example.com",
            "Payroll+NewHire@Example.COM",
            "o'brien@example.co.uk",
            "jürgen@bücher.example",
            "  padded@example.com  ",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "payroll",
            "@example.com",
            "payroll@",
            "Pay Roll <payroll@example.com>",
            "pay roll@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a@localhost",
            "a@exa_mple.com",
            "a@-example.com",
            "a,b@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mail_addresses_keep_a_quoted_local_part() {
        let a = EmailAddress::parse_mail("\"john smith\"@example.org").unwrap();
        assert_eq!(a.as_str(), "\"john smith\"@example.org");
        assert_eq!(a.key(), "\"john smith\"@example.org");
        let b = EmailAddress::parse_mail("\"John Smith\"@Example.ORG").unwrap();
        assert_eq!(a.key(), b.key());
        // Needless quotes are dropped: one mailbox, one form.
        let c = EmailAddress::parse_mail("\"ann.lee\"@example.org").unwrap();
        assert_eq!(c.as_str(), "ann.lee@example.org");
        assert_eq!(c, EmailAddress::parse("ann.lee@example.org").unwrap());
        // Escapes inside the quotes are kept escaped.
        let d = EmailAddress::parse_mail(r#""a\"b@c"@example.org"#).unwrap();
        assert_eq!(d.as_str(), r#""a\"b@c"@example.org"#);
        // Unquoted addresses follow `parse`.
        assert!(EmailAddress::parse_mail("ann@example.org").is_ok());
        for bad in [
            "\"john smith\"@",
            "\"john smith\"@localhost",
            "\"john\" smith@example.org",
            "\"john\nsmith\"@example.org",
            "\"unterminated@example.org",
            "pay roll@example.com",
            "Ann <ann@example.org>",
        ] {
            assert!(EmailAddress::parse_mail(bad).is_err(), "{bad:?}");
        }
        // Fields a person types keep the strict form.
        assert!(EmailAddress::parse("\"john smith\"@example.org").is_err());
    }

    #[test]
    fn local_parts_are_quoted_only_when_needed() {
        assert_eq!(local_part("john.smith"), "john.smith");
        assert_eq!(local_part("john smith"), "\"john smith\"");
        assert_eq!(local_part("a..b"), "\"a..b\"");
        assert_eq!(local_part(".a"), "\".a\"");
        assert_eq!(local_part(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(local_part(""), "\"\"");
    }

    #[test]
    fn key_is_case_insensitive() {
        let a = EmailAddress::parse("Payroll@Example.com").unwrap();
        let b = EmailAddress::parse("payroll@example.com").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Payroll@Example.com");
    }
}

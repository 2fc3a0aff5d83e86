//! `EmailAddress`: `local@domain`, no display name, no spaces, IDN domains allowed.
//!
//! Keeps the address as the user wrote it (trimmed) for display, and a lower-cased key for
//! case-insensitive comparison and uniqueness.

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
        const SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-.";
        if !local
            .chars()
            .all(|c| c.is_alphanumeric() || SPECIALS.contains(c) || !c.is_ascii())
        {
            return Err(EmailError(
                "the part before @ has a character that is not allowed (such as @ , ; : ( ) [ ] \\)",
            ));
        }
        let ascii_domain = dns_name_to_ascii(domain).map_err(|_| {
            EmailError("the domain after @ is not a valid domain name (such as example.com)")
        })?;
        if !ascii_domain.contains('.') {
            return Err(EmailError(
                "the domain after @ must be a full domain name (such as example.com)",
            ));
        }
        let display = format!("{local}@{domain}");
        let key = display.to_lowercase();
        Ok(Self { display, key })
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
    fn key_is_case_insensitive() {
        let a = EmailAddress::parse("Payroll@Example.com").unwrap();
        let b = EmailAddress::parse("payroll@example.com").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Payroll@Example.com");
    }
}

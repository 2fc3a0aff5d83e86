//! Automatic mail (RFC 3834 and common practice): such mail still becomes a case, marked
//! automatic, and never triggers a reply, so two robots never answer each other forever.

use super::parse::ParsedEmail;

/// Why this message is automatic, or `None` for mail written by a person.
/// `own_message_id_domain` is the domain of the Message-IDs of our own replies.
pub fn automatic_reason(email: &ParsedEmail, own_message_id_domain: &str) -> Option<String> {
    if let Some(v) = email.header("Auto-Submitted")
        && !v.trim().eq_ignore_ascii_case("no")
    {
        return Some(format!("Auto-Submitted: {}", v.trim()));
    }
    if let Some(v) = email.header("Precedence") {
        let v = v.trim().to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "list" | "junk" | "auto_reply") {
            return Some(format!("Precedence: {v}"));
        }
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"] {
        if let Some(v) = email.header(h)
            && (h != "X-Auto-Response-Suppress" || v.to_ascii_lowercase().contains("all"))
        {
            return Some(format!("{h}: {}", v.trim()));
        }
    }
    if let Some(from) = &email.from {
        let local = from
            .rsplit_once('@')
            .map_or(from.as_str(), |(local, _)| local)
            .to_ascii_lowercase();
        if matches!(local.as_str(), "mailer-daemon" | "postmaster") {
            return Some(format!("sent by {from}"));
        }
    }
    if email.from.is_none()
        && email
            .header("Return-Path")
            .is_some_and(|r| r.trim() == "<>")
    {
        return Some("bounce (empty Return-Path)".into());
    }
    let own = format!("@{}", own_message_id_domain.to_ascii_lowercase());
    if email
        .message_id
        .as_ref()
        .is_some_and(|id| id.to_ascii_lowercase().ends_with(&own))
    {
        return Some("one of our own messages".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_headers(h: &[(&str, &str)], from: &str) -> ParsedEmail {
        ParsedEmail {
            from: Some(from.into()),
            headers: h
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..ParsedEmail::default()
        }
    }

    #[test]
    fn recognises_robots() {
        let own = "mailroom.local";
        assert!(
            automatic_reason(
                &with_headers(&[("Auto-Submitted", "auto-replied")], "a@x.com"),
                own
            )
            .is_some()
        );
        assert!(
            automatic_reason(&with_headers(&[("Auto-Submitted", "no")], "a@x.com"), own).is_none()
        );
        assert!(
            automatic_reason(&with_headers(&[("Precedence", "Bulk")], "a@x.com"), own).is_some()
        );
        assert!(
            automatic_reason(&with_headers(&[("X-Autoreply", "yes")], "a@x.com"), own).is_some()
        );
        assert!(automatic_reason(&with_headers(&[], "MAILER-DAEMON@x.com"), own).is_some());
        assert!(automatic_reason(&with_headers(&[], "postmaster@x.com"), own).is_some());
        let mut ours = with_headers(&[], "a@x.com");
        ours.message_id = Some("case-1.abc@mailroom.local".into());
        assert!(automatic_reason(&ours, own).is_some());
        assert!(
            automatic_reason(
                &with_headers(&[("Precedence", "first-class")], "a@x.com"),
                own
            )
            .is_none()
        );
    }
}

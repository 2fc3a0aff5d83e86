//! Why a token request failed, in words and typed by what a person has to do: the OAuth2 error
//! body (`error`, `error_description`), Microsoft's `AADSTSnnnn` codes, HTTP statuses and
//! network failures.
//!
//! Owns the wording of token failures. Must not do I/O, and never repeats a secret: the
//! provider's description is shortened and cleaned of every secret of the request first.

use serde::Deserialize;

use crate::domain::Secret;

/// What a person has to do about a failed token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorKind {
    /// The sign-in is no longer valid (`invalid_grant`: the refresh token expired, was revoked
    /// or already used; the password changed): someone must sign in again.
    SignInAgain,
    /// Consent to the app's permissions is missing or was declined.
    Consent,
    /// The app registration or Mailroom's settings for it are wrong (client secret expired or
    /// wrong, redirect URI, tenant, scope, client id).
    Configuration,
    /// The endpoint could not be reached or failed for now: a later attempt may work.
    Temporary,
    /// The endpoint answered something that is not an OAuth2 answer.
    Protocol,
}

impl TokenErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInAgain => "sign_in_again",
            Self::Consent => "consent",
            Self::Configuration => "configuration",
            Self::Temporary => "temporary",
            Self::Protocol => "protocol",
        }
    }
}

/// A failed token request. `message` says what happened (with the provider's own code and
/// description), `hint` what to do.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    pub kind: TokenErrorKind,
    /// The OAuth2 `error` code ("invalid_grant"), when the endpoint sent one.
    pub code: Option<String>,
    /// Microsoft's AADSTS number, when the endpoint sent one.
    pub aadsts: Option<u32>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    pub message: String,
    pub hint: String,
}

impl TokenError {
    /// No retry can help: a person must act (sign in again, grant consent, fix the app).
    pub fn needs_person(&self) -> bool {
        !matches!(self.kind, TokenErrorKind::Temporary)
    }

    /// The message and the hint as one paragraph.
    pub fn sentence(&self) -> String {
        format!("{} {}", self.message, self.hint)
    }

    pub(super) fn new(
        kind: TokenErrorKind,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code: None,
            aadsts: None,
            status: None,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// The JSON error body of RFC 6749 §5.2, with Microsoft's additions.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// Removes every secret of the request from provider text, then cuts Microsoft's trailer
/// ("Trace ID: … Correlation ID: … Timestamp: …") and anything past 300 characters.
pub(super) fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let v = s.expose();
        if !v.is_empty() && out.contains(v) {
            out = out.replace(v, "[redacted]");
        }
    }
    let first = out.split(['\r', '\n']).next().unwrap_or("").trim();
    let first = first.split(" Trace ID:").next().unwrap_or(first).trim_end();
    let mut short: String = first
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    if first.chars().count() > 300 {
        short.push('…');
    }
    short
}

/// "AADSTS700082: …" → 700082.
fn aadsts_in(text: &str) -> Option<u32> {
    let at = text.find("AADSTS")?;
    let digits: String = text[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// An answer that was not a token: the error body (or whatever came) turned into words.
/// `endpoint` names the token endpoint's host for messages.
pub(super) fn from_answer(
    status: u16,
    body: &[u8],
    endpoint: &str,
    secrets: &[&Secret],
) -> TokenError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let Some(b) = parsed.filter(|b| b.error.is_some()) else {
        let shown = scrub(&String::from_utf8_lossy(body), secrets);
        let (kind, what) = match status {
            429 => (
                TokenErrorKind::Temporary,
                "is limiting requests (HTTP 429)".to_string(),
            ),
            500..=599 => (
                TokenErrorKind::Temporary,
                format!("failed on its side (HTTP {status})"),
            ),
            _ => (
                TokenErrorKind::Protocol,
                format!("answered HTTP {status} without an OAuth2 error"),
            ),
        };
        let mut e = TokenError::new(
            kind,
            format!(
                "The token endpoint {endpoint} {what}{}.",
                if shown.is_empty() {
                    String::new()
                } else {
                    format!(": \"{shown}\"")
                }
            ),
            if kind == TokenErrorKind::Temporary {
                "Try again later."
            } else {
                "Check the token URL of the OAuth app: it must be the provider's token endpoint."
            },
        );
        e.status = Some(status);
        return e;
    };
    let code = b.error.unwrap_or_default();
    let description = b
        .error_description
        .as_deref()
        .map(|d| scrub(d, secrets))
        .unwrap_or_default();
    let aadsts = b
        .error_codes
        .first()
        .copied()
        .or_else(|| aadsts_in(&description));
    let (kind, what, hint) = explain(&code, aadsts);
    let said = if description.is_empty() {
        code.clone()
    } else {
        format!("{code}: {description}")
    };
    TokenError {
        kind,
        code: Some(code),
        aadsts,
        status: Some(status),
        message: format!("{what} The token endpoint {endpoint} answered: {said}"),
        hint: hint.to_string(),
    }
}

const SIGN_IN: &str = "Sign in again (Reconnect) to give Mailroom a new sign-in.";

/// The kind, a sentence saying what happened, and what to do, for an OAuth2 error code and
/// Microsoft's AADSTS number.
fn explain(code: &str, aadsts: Option<u32>) -> (TokenErrorKind, &'static str, &'static str) {
    use TokenErrorKind::*;
    match aadsts {
        Some(700082) => {
            return (
                SignInAgain,
                "The sign-in expired: its refresh token was not used for 90 days (Microsoft AADSTS700082).",
                SIGN_IN,
            );
        }
        Some(50173) => {
            return (
                SignInAgain,
                "The sign-in is no longer valid: the account's password was changed or its sessions were revoked (Microsoft AADSTS50173).",
                "Sign in again (Reconnect) with the account's current password.",
            );
        }
        Some(50076 | 50079) => {
            return (
                SignInAgain,
                "Microsoft now requires multi-factor authentication for this sign-in (AADSTS50076).",
                "Sign in again (Reconnect) and complete the multi-factor prompt.",
            );
        }
        Some(7000222) => {
            return (
                Configuration,
                "The OAuth app's client secret has expired (Microsoft AADSTS7000222).",
                "Create a new client secret in Microsoft Entra ID (App registrations → the app → Certificates & secrets), enter its Value on the OAuth app, then sign in again.",
            );
        }
        Some(7000215) => {
            return (
                Configuration,
                "The OAuth app's client secret is wrong (Microsoft AADSTS7000215).",
                "Enter the secret's Value (not its Secret ID) from Microsoft Entra ID (App registrations → the app → Certificates & secrets) on the OAuth app.",
            );
        }
        Some(65001) => {
            return (
                Consent,
                "The app has no consent to use this mailbox over IMAP (Microsoft AADSTS65001).",
                "An administrator grants consent in Microsoft Entra ID (Enterprise applications → the app → Permissions → Grant admin consent), then sign in again.",
            );
        }
        Some(65004) => {
            return (
                Consent,
                "The person signing in declined the consent the app asked for (Microsoft AADSTS65004).",
                "Sign in again and accept the requested permissions, or have an administrator grant consent for the organisation.",
            );
        }
        Some(50011) => {
            return (
                Configuration,
                "The redirect URI does not match one registered for the app (Microsoft AADSTS50011).",
                "Add Mailroom's redirect URI, exactly as the OAuth app shows it, to the app registration (Authentication → Web → Redirect URIs).",
            );
        }
        Some(50194) => {
            return (
                Configuration,
                "The app is registered for a single tenant, but the request went to the multi-tenant /common endpoint (Microsoft AADSTS50194).",
                "Enter the tenant (the directory ID, or a domain such as contoso.onmicrosoft.com) on the OAuth app, so Mailroom uses that tenant's endpoints.",
            );
        }
        Some(700016) => {
            return (
                Configuration,
                "Microsoft does not know the app's client ID in this tenant (AADSTS700016).",
                "Check the client ID (Application ID) and the tenant of the OAuth app; a single-tenant app must be used with its own tenant.",
            );
        }
        Some(70011) => {
            return (
                Configuration,
                "Microsoft refused the requested scope (AADSTS70011).",
                "Use the preset's scopes: https://outlook.office.com/IMAP.AccessAsUser.All offline_access (delegated) or https://outlook.office365.com/.default (app-only).",
            );
        }
        _ => {}
    }
    match code {
        "invalid_grant" => (
            SignInAgain,
            "The sign-in is no longer valid: the refresh token or code expired, was revoked or was already used (invalid_grant).",
            SIGN_IN,
        ),
        "consent_required" | "access_denied" => (
            Consent,
            "The app has no consent for the permissions it asked for.",
            "Sign in again and accept the permissions, or have an administrator grant consent for the organisation.",
        ),
        "interaction_required" | "login_required" => (
            SignInAgain,
            "The provider needs the person to sign in interactively again.",
            SIGN_IN,
        ),
        "invalid_client" => (
            Configuration,
            "The provider did not accept the app's client ID or client secret (invalid_client).",
            "Check the client ID and client secret of the OAuth app (a secret may have expired).",
        ),
        "unauthorized_client" | "unsupported_grant_type" => (
            Configuration,
            "The app is not allowed to use this kind of sign-in (unauthorized_client).",
            "Check the app registration: the flow (authorization code or client credentials) must be enabled for it.",
        ),
        "invalid_scope" => (
            Configuration,
            "The provider refused the requested scopes (invalid_scope).",
            "Check the scopes of the OAuth app against the provider's preset.",
        ),
        "temporarily_unavailable" | "server_error" => (
            Temporary,
            "The provider's sign-in service failed for now.",
            "Try again later.",
        ),
        _ => (
            Protocol,
            "The provider refused the token request.",
            "Check the OAuth app's settings against the provider's preset.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_codes_become_words_and_kinds() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2024-01-01 and was inactive for 90.00:00:00.\r\nTrace ID: 1 Correlation ID: 2 Timestamp: 3","error_codes":[700082]}"#;
        let e = from_answer(400, body, "login.microsoftonline.com", &[]);
        assert_eq!(e.kind, TokenErrorKind::SignInAgain);
        assert_eq!(e.aadsts, Some(700082));
        assert!(e.message.contains("90 days"), "{e:?}");
        assert!(
            e.message.contains("AADSTS700082: The refresh token"),
            "{e:?}"
        );
        assert!(!e.message.contains("Trace ID"), "{e:?}");
        assert!(e.hint.contains("Sign in again"));
        for (n, kind) in [
            (50173, TokenErrorKind::SignInAgain),
            (7000222, TokenErrorKind::Configuration),
            (65001, TokenErrorKind::Consent),
            (65004, TokenErrorKind::Consent),
            (50011, TokenErrorKind::Configuration),
            (50194, TokenErrorKind::Configuration),
        ] {
            // The number only in the description, as some endpoints send it.
            let body = format!(
                r#"{{"error":"invalid_request","error_description":"AADSTS{n}: something."}}"#
            );
            let e = from_answer(400, body.as_bytes(), "h", &[]);
            assert_eq!((e.aadsts, e.kind), (Some(n), kind), "{e:?}");
            assert!(e.message.contains(&format!("AADSTS{n}")), "{e:?}");
            assert!(e.needs_person());
        }
    }

    #[test]
    fn plain_oauth_errors_and_non_json_answers() {
        let e = from_answer(
            400,
            br#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#,
            "oauth2.googleapis.com",
            &[],
        );
        assert_eq!(e.kind, TokenErrorKind::SignInAgain);
        assert!(e.message.contains("Token has been expired or revoked."));
        let e = from_answer(503, b"<html>busy</html>", "h", &[]);
        assert_eq!(e.kind, TokenErrorKind::Temporary);
        assert!(!e.needs_person());
        let e = from_answer(404, b"not here", "h", &[]);
        assert_eq!(e.kind, TokenErrorKind::Protocol);
        assert!(e.message.contains("HTTP 404"), "{e:?}");
    }

    #[test]
    fn secrets_are_scrubbed_from_provider_text() {
        let secret = Secret::new("rt-very-secret-1".into());
        let body = br#"{"error":"invalid_grant","error_description":"refresh token rt-very-secret-1 is unknown"}"#;
        let e = from_answer(400, body, "h", &[&secret]);
        assert!(!e.message.contains("rt-very-secret-1"), "{e:?}");
        assert!(e.message.contains("[redacted]"), "{e:?}");
    }
}

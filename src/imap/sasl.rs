//! Logging in: the mechanism chosen from the server's capabilities (a password goes with
//! AUTHENTICATE PLAIN when offered, else LOGIN; a token with XOAUTH2 when offered, else
//! OAUTHBEARER, RFC 7628), the SASL strings, the exchange on the wire, and a failure's JSON
//! challenge decoded.
//!
//! Owns the login exchange. Must not choose a mechanism the server did not announce, and
//! writes every secret straight onto the socket (async-imap's encoder logs what it sends),
//! zeroing each copy it made; the `Redactor` knows every form sent (`secret_forms`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroize;

use super::login::Login;
use super::reply::{self, Client, ReadFailure, Reply};
use super::wire;
use super::words::Redactor;

/// How the login is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `LOGIN "user" "password"`.
    Login,
    /// `AUTHENTICATE PLAIN`; with SASL-IR the credentials go on the same line, else after `+`.
    Plain { sasl_ir: bool },
    /// `AUTHENTICATE XOAUTH2` (Google, Microsoft): `user=…^Aauth=Bearer …^A^A`.
    XOAuth2 { sasl_ir: bool },
    /// `AUTHENTICATE OAUTHBEARER` (RFC 7628): `n,a=…,^Ahost=…^Aport=…^Aauth=Bearer …^A^A`.
    OAuthBearer { sasl_ir: bool },
}

fn has(caps: &[String], c: &str) -> bool {
    caps.iter().any(|x| x.eq_ignore_ascii_case(c))
}

impl Mechanism {
    /// For a password: AUTHENTICATE PLAIN when offered, else LOGIN unless LOGINDISABLED (or
    /// the values cannot be quoted). `None`: no password login is possible.
    pub fn for_password(caps: &[String], user: &str, password: &str) -> Option<Self> {
        if has(caps, "AUTH=PLAIN") {
            return Some(Self::Plain {
                sasl_ir: has(caps, "SASL-IR"),
            });
        }
        let quotable = !user.contains(['\r', '\n', '\0']) && !password.contains(['\r', '\n', '\0']);
        (!has(caps, "LOGINDISABLED") && quotable).then_some(Self::Login)
    }

    /// For a token: XOAUTH2 when offered (what Microsoft 365 and Google document), else
    /// OAUTHBEARER. `None`: the server takes no token.
    pub fn for_token(caps: &[String]) -> Option<Self> {
        let sasl_ir = has(caps, "SASL-IR");
        if has(caps, "AUTH=XOAUTH2") {
            Some(Self::XOAuth2 { sasl_ir })
        } else if has(caps, "AUTH=OAUTHBEARER") {
            Some(Self::OAuthBearer { sasl_ir })
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "LOGIN",
            Self::Plain { .. } => "AUTHENTICATE PLAIN",
            Self::XOAuth2 { .. } => "AUTHENTICATE XOAUTH2",
            Self::OAuthBearer { .. } => "AUTHENTICATE OAUTHBEARER",
        }
    }

    pub fn is_token(self) -> bool {
        matches!(self, Self::XOAuth2 { .. } | Self::OAuthBearer { .. })
    }
}

/// `\0user\0password`.
fn plain_response(user: &str, password: &str) -> Vec<u8> {
    let mut raw = Vec::with_capacity(user.len() + password.len() + 2);
    raw.push(0u8);
    raw.extend_from_slice(user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.as_bytes());
    raw
}

fn xoauth2_response(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// RFC 7628 §3.1: the GS2 header names the authorization identity, with `,` and `=` escaped.
fn oauthbearer_response(user: &str, host: &str, port: u16, token: &str) -> Vec<u8> {
    let a = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={a},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// Every form in which a login's secret could come back from a server: as is, quoted as in
/// LOGIN, base64, and the base64 SASL strings (PLAIN, XOAUTH2, OAUTHBEARER). Callers zero them.
pub fn secret_forms(user: &str, host: &str, port: u16, login: &Login) -> Vec<String> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut forms = Vec::new();
    let (secret, mut sasl) = match login {
        Login::Password(p) => (p.expose(), vec![plain_response(user, p.expose())]),
        Login::Token { access_token: t } => (
            t.expose(),
            vec![
                xoauth2_response(user, t.expose()),
                oauthbearer_response(user, host, port, t.expose()),
            ],
        ),
    };
    if secret.is_empty() {
        return forms;
    }
    forms.push(secret.to_string());
    if let Some(mut q) = wire::quoted(secret) {
        forms.push(q[1..q.len() - 1].to_string());
        q.zeroize();
    }
    for bytes in std::iter::once(secret.as_bytes()).chain(sasl.iter().map(Vec::as_slice)) {
        forms.push(STANDARD.encode(bytes));
        forms.push(STANDARD_NO_PAD.encode(bytes));
    }
    for s in &mut sasl {
        s.zeroize();
    }
    forms
}

/// Where the login goes, for the SASL strings and messages.
pub struct Peer<'a> {
    pub user: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// `host:port`.
    pub shown: &'a str,
}

/// Sends the login with `mechanism` and reads the server's answer. A failed OAuth2 login's
/// challenge (`+ <base64 JSON>`) is answered as RFC 7628 asks (an empty line for XOAUTH2,
/// `AQ==` for OAUTHBEARER; `*` cancels anything else) and kept in `Reply::challenge`.
pub async fn authenticate(
    client: &mut Client,
    tag: &str,
    mechanism: Mechanism,
    login: &Login,
    to: &Peer<'_>,
    r: &Redactor,
) -> Result<Reply, ReadFailure> {
    let what = "its answer to the login";
    let target = to.shown;
    let sent = |e: std::io::Error| ReadFailure {
        message: format!("Sending the login to {target} failed: {e}."),
        server: None,
    };
    let secret = match login {
        Login::Password(p) => p.expose(),
        Login::Token { access_token } => access_token.expose(),
    };
    let (mut raw, sasl_ir) = match mechanism {
        Mechanism::Login => {
            let (Some(u), Some(mut p)) = (wire::quoted(to.user), wire::quoted(secret)) else {
                return Err(ReadFailure {
                    message: "The login name or password contains a line break, which LOGIN cannot carry.".into(),
                    server: None,
                });
            };
            let mut line = format!("{tag} LOGIN {u} {p}");
            p.zeroize();
            let w = reply::send(client, &line).await;
            line.zeroize();
            w.map_err(sent)?;
            return reply::read_reply(client, tag, false, what, target, r).await;
        }
        Mechanism::Plain { sasl_ir } => (plain_response(to.user, secret), sasl_ir),
        Mechanism::XOAuth2 { sasl_ir } => (xoauth2_response(to.user, secret), sasl_ir),
        Mechanism::OAuthBearer { sasl_ir } => (
            oauthbearer_response(to.user, to.host, to.port, secret),
            sasl_ir,
        ),
    };
    let mut b64 = STANDARD.encode(&raw);
    raw.zeroize();
    let command = mechanism.name();
    let result = async {
        if sasl_ir {
            let mut line = format!("{tag} {command} {b64}");
            let w = reply::send(client, &line).await;
            line.zeroize();
            w.map_err(sent)?;
        } else {
            reply::send(client, &format!("{tag} {command}"))
                .await
                .map_err(sent)?;
            let first = reply::read_reply(client, tag, true, what, target, r).await?;
            if !first.continuation {
                return Ok(Some(first)); // refused before the credentials were asked for
            }
            reply::send(client, &b64).await.map_err(sent)?;
        }
        Ok(None)
    }
    .await;
    b64.zeroize();
    if let Some(refused) = result? {
        return Ok(refused);
    }
    let answer = reply::read_reply(client, tag, true, what, target, r).await?;
    if !answer.continuation {
        return Ok(answer);
    }
    // A challenge instead of an answer: OAuth2's error report (RFC 7628 §3.2.2).
    let challenge = answer.challenge.clone();
    let response = match mechanism {
        Mechanism::XOAuth2 { .. } => "",
        Mechanism::OAuthBearer { .. } => "AQ==",
        _ => "*",
    };
    reply::send(client, response).await.map_err(sent)?;
    let mut last = reply::read_reply(client, tag, false, what, target, r).await?;
    last.challenge = challenge;
    Ok(last)
}

/// A failure challenge: the decoded JSON (for the server's words) and what it says (for the
/// message). `None` when it is not base64 JSON.
pub fn decode_challenge(text: &str) -> Option<(String, String)> {
    let bytes = STANDARD.decode(text.trim()).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let obj = json.as_object()?;
    let field = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let status = field("status").unwrap_or_default();
    let mut said = match status.as_str() {
        "401" | "invalid_token" => {
            "the token is not valid for this mailbox: it expired, was revoked, or was issued for another account".to_string()
        }
        "400" => "the token or the request was not accepted (status 400)".to_string(),
        "403" | "insufficient_scope" => {
            "the token lacks the permission (scope) to read mail".to_string()
        }
        "" => "it gave no status".to_string(),
        other => format!("status {other}"),
    };
    if let Some(scope) = field("scope") {
        said.push_str(&format!("; it expects the scope \"{scope}\""));
    }
    let shown = wire::printable(&serde_json::to_vec(&json).unwrap_or_default());
    Some((shown, said))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn mechanisms_follow_the_capabilities() {
        let m = Mechanism::for_password(&caps("IMAP4rev1 SASL-IR AUTH=PLAIN"), "u", "p");
        assert_eq!(m, Some(Mechanism::Plain { sasl_ir: true }));
        let m = Mechanism::for_password(&caps("IMAP4rev1 AUTH=XOAUTH2"), "u", "p");
        assert_eq!(m, Some(Mechanism::Login));
        assert_eq!(
            Mechanism::for_password(&caps("IMAP4rev1 LOGINDISABLED"), "u", "p"),
            None
        );
        assert_eq!(
            Mechanism::for_password(&caps("IMAP4rev1"), "u", "p\nq"),
            None
        );
        let both = caps("IMAP4rev1 AUTH=OAUTHBEARER AUTH=XOAUTH2");
        assert_eq!(
            Mechanism::for_token(&both),
            Some(Mechanism::XOAuth2 { sasl_ir: false })
        );
        assert_eq!(
            Mechanism::for_token(&caps("SASL-IR AUTH=OAUTHBEARER")),
            Some(Mechanism::OAuthBearer { sasl_ir: true })
        );
        assert_eq!(Mechanism::for_token(&caps("AUTH=PLAIN")), None);
    }

    #[test]
    fn sasl_strings_are_as_the_specifications_write_them() {
        assert_eq!(
            xoauth2_response("a@b.c", "tok"),
            b"user=a@b.c\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            oauthbearer_response("a=,b@c", "imap.x", 993, "tok"),
            b"n,a=a=3D=2Cb@c,\x01host=imap.x\x01port=993\x01auth=Bearer tok\x01\x01"
        );
        let login = Login::Token {
            access_token: crate::domain::Secret::new("tok-123".into()),
        };
        let forms = secret_forms("a@b.c", "imap.x", 993, &login);
        assert!(forms.contains(&STANDARD.encode(xoauth2_response("a@b.c", "tok-123"))));
        assert!(forms.contains(&"tok-123".to_string()));
    }

    #[test]
    fn challenges_are_decoded_into_words() {
        let c = STANDARD.encode(r#"{"status":"401","schemes":"bearer","scope":"mail"}"#);
        let (json, said) = decode_challenge(&c).unwrap();
        assert!(json.contains("\"status\":\"401\""), "{json}");
        assert!(
            said.contains("another account") && said.contains("\"mail\""),
            "{said}"
        );
        let c = STANDARD.encode(r#"{"status":"invalid_token"}"#);
        assert!(decode_challenge(&c).unwrap().1.contains("expired"));
        assert!(decode_challenge("not base64!").is_none());
    }
}

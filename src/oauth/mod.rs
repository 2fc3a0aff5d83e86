//! OAuth2 at a provider's token endpoint: the refresh-token grant (with rotation), the
//! client-credentials grant, the authorization-code grant with PKCE (S256), and the
//! authorization URL that starts it. IMAP and SMTP both use the tokens it gets.
//!
//! Owns the token requests and their answers. Must not know IMAP, SMTP, the store or HTTP
//! routes; keeps every secret (client secret, refresh and access tokens, code, verifier) in a
//! `Secret` and puts none of them into an error, a log line or a `Debug` print. Errors are in
//! words and typed by what a person must do (`TokenErrorKind`).

mod error;
mod pkce;

use std::time::{Duration, SystemTime};

use serde::Deserialize;

pub use error::{TokenError, TokenErrorKind};
pub use pkce::{Pkce, challenge_of, random_state};

use crate::domain::Secret;

/// The most of a token endpoint's answer that is read.
const ANSWER_LIMIT: usize = 256 * 1024;

/// The registered app as the token endpoint knows it.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    /// The token endpoint (`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`).
    pub token_url: String,
    pub client_id: String,
    /// Absent for a public client (authorization code with PKCE only).
    pub client_secret: Option<Secret>,
}

/// What is traded for a token.
#[derive(Debug)]
pub enum Grant {
    /// A refresh token from an earlier sign-in. The answer may carry a new one (rotation):
    /// store it at once, the old one may stop working.
    RefreshToken { refresh_token: Secret },
    /// The app's own identity (app-only access, e.g. Microsoft 365 with `.default`).
    ClientCredentials,
    /// The code from the authorization redirect, with the PKCE verifier of that request.
    AuthorizationCode {
        code: Secret,
        redirect_uri: String,
        verifier: Secret,
    },
}

impl Grant {
    pub fn name(&self) -> &'static str {
        match self {
            Self::RefreshToken { .. } => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode { .. } => "authorization_code",
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    /// "Bearer" (checked).
    pub token_type: String,
    /// How long the access token lives, when the endpoint said.
    pub expires_in: Option<Duration>,
    pub received_at: SystemTime,
    /// A new refresh token: the endpoint rotated it (or this was the first sign-in).
    pub refresh_token: Option<Secret>,
    /// The scopes granted, when the endpoint said.
    pub scope: Option<String>,
}

impl Tokens {
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_in.map(|d| self.received_at + d)
    }

    /// Whether the access token expires within `margin` from now (true when it has expired;
    /// false when the lifetime is unknown).
    pub fn expires_within(&self, margin: Duration) -> bool {
        self.expires_at()
            .is_some_and(|at| at <= SystemTime::now() + margin)
    }
}

/// The parts of an authorization request (the browser is sent to the result).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest<'a> {
    pub authorize_url: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Space-separated.
    pub scopes: &'a str,
    pub state: &'a str,
    /// `Pkce::challenge` (method S256).
    pub code_challenge: &'a str,
    /// Provider extras, e.g. Google's `access_type=offline` and `prompt=consent`, or
    /// `login_hint`.
    pub extra: &'a [(&'a str, &'a str)],
}

impl AuthorizationRequest<'_> {
    /// The URL with `response_type=code` and every parameter encoded.
    pub fn url(&self) -> Result<String, TokenError> {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("scope", self.scopes),
            ("state", self.state),
            ("code_challenge", self.code_challenge),
            ("code_challenge_method", Pkce::METHOD),
        ];
        params.extend_from_slice(self.extra);
        reqwest::Url::parse_with_params(self.authorize_url, &params)
            .map(String::from)
            .map_err(|e| {
                TokenError::new(
                    TokenErrorKind::Configuration,
                    format!("The authorization URL {:?} is not a valid URL: {e}.", self.authorize_url),
                    "Enter the provider's authorization endpoint (an https:// URL) on the OAuth app.",
                )
            })
    }
}

/// The success body of RFC 6749 §5.1. `expires_in` arrives as a number or, from some
/// endpoints (Azure AD v1), as a string.
#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
    refresh_token: Option<String>,
    scope: Option<String>,
    error: Option<String>,
}

/// Talks to token endpoints. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct TokenClient {
    http: reqwest::Client,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenClient")
    }
}

impl TokenClient {
    /// A client whose every request ends within `timeout`. Redirects are not followed (a
    /// token endpoint answers itself; following could send the secret elsewhere).
    pub fn new(timeout: Duration) -> Result<Self, TokenError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Mailroom/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                TokenError::new(
                    TokenErrorKind::Temporary,
                    format!("The HTTP client for token requests could not be set up: {e}."),
                    "Check the system's TLS certificates.",
                )
            })?;
        Ok(Self { http })
    }

    /// Trades `grant` for tokens at `app.token_url`, asking for `scopes` (space-separated;
    /// empty sends none).
    pub async fn request(
        &self,
        app: &OAuthClient,
        grant: &Grant,
        scopes: &str,
    ) -> Result<Tokens, TokenError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", grant.name()),
            ("client_id", app.client_id.as_str()),
        ];
        let mut secrets: Vec<&Secret> = Vec::new();
        if let Some(s) = &app.client_secret {
            form.push(("client_secret", s.expose()));
            secrets.push(s);
        }
        match grant {
            Grant::RefreshToken { refresh_token } => {
                form.push(("refresh_token", refresh_token.expose()));
                secrets.push(refresh_token);
            }
            Grant::ClientCredentials => {}
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
            } => {
                form.push(("code", code.expose()));
                form.push(("redirect_uri", redirect_uri.as_str()));
                form.push(("code_verifier", verifier.expose()));
                secrets.push(code);
                secrets.push(verifier);
            }
        }
        if !scopes.trim().is_empty() {
            form.push(("scope", scopes.trim()));
        }
        let endpoint = endpoint_name(&app.token_url);
        let url = reqwest::Url::parse(&app.token_url).map_err(|e| {
            TokenError::new(
                TokenErrorKind::Configuration,
                format!("The token URL {:?} is not a valid URL: {e}.", app.token_url),
                "Enter the provider's token endpoint (an https:// URL) on the OAuth app.",
            )
        })?;
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await;
        drop(form);
        let response = sent.map_err(|e| unreachable_endpoint(&e, &endpoint))?;
        let status = response.status().as_u16();
        let body = read_limited(response)
            .await
            .map_err(|e| unreachable_endpoint(&e, &endpoint))?;
        if !(200..300).contains(&status) {
            return Err(error::from_answer(status, &body, &endpoint, &secrets));
        }
        let parsed: TokenBody = serde_json::from_slice(&body).map_err(|_| {
            let mut e = TokenError::new(
                TokenErrorKind::Protocol,
                format!(
                    "The token endpoint {endpoint} answered HTTP {status} with something that is not a token (not JSON)."
                ),
                "Check the token URL of the OAuth app: it must be the provider's token endpoint.",
            );
            e.status = Some(status);
            e
        })?;
        if parsed.error.is_some() {
            return Err(error::from_answer(status, &body, &endpoint, &secrets));
        }
        let Some(access) = parsed.access_token.filter(|t| !t.is_empty()) else {
            return Err(TokenError::new(
                TokenErrorKind::Protocol,
                format!("The token endpoint {endpoint} answered without an access token."),
                "Check the token URL and the flow of the OAuth app.",
            ));
        };
        let access_token = Secret::new(access);
        let token_type = parsed.token_type.unwrap_or_else(|| "Bearer".into());
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::new(
                TokenErrorKind::Protocol,
                format!(
                    "The token endpoint {endpoint} issued a {token_type:?} token; mail servers take only bearer tokens."
                ),
                "Check the token URL and the scopes of the OAuth app.",
            ));
        }
        let expires_in = parsed.expires_in.and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        Ok(Tokens {
            access_token,
            token_type,
            expires_in: expires_in.map(Duration::from_secs),
            received_at: SystemTime::now(),
            refresh_token: parsed
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            scope: parsed.scope,
        })
    }

    /// The refresh-token grant. A rotated refresh token comes back in `Tokens::refresh_token`.
    pub async fn refresh(
        &self,
        app: &OAuthClient,
        refresh_token: &Secret,
        scopes: &str,
    ) -> Result<Tokens, TokenError> {
        let grant = Grant::RefreshToken {
            refresh_token: refresh_token.clone(),
        };
        self.request(app, &grant, scopes).await
    }

    /// The client-credentials grant (app-only access).
    pub async fn client_credentials(
        &self,
        app: &OAuthClient,
        scopes: &str,
    ) -> Result<Tokens, TokenError> {
        self.request(app, &Grant::ClientCredentials, scopes).await
    }

    /// The authorization-code grant: the code from the redirect and the verifier kept for it.
    pub async fn exchange_code(
        &self,
        app: &OAuthClient,
        code: Secret,
        redirect_uri: &str,
        verifier: Secret,
        scopes: &str,
    ) -> Result<Tokens, TokenError> {
        let grant = Grant::AuthorizationCode {
            code,
            redirect_uri: redirect_uri.to_string(),
            verifier,
        };
        self.request(app, &grant, scopes).await
    }
}

/// `https://login.microsoftonline.com/x/oauth2/v2.0/token` → `login.microsoftonline.com`
/// (with the port when it is not the default), for messages.
fn endpoint_name(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "(invalid URL)".into())
}

/// Reads the body, at most `ANSWER_LIMIT` bytes.
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = ANSWER_LIMIT.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(body)
}

/// A request that got no answer, in words. reqwest's error text names the URL, which holds
/// no secret (they travel in the form body).
fn unreachable_endpoint(e: &reqwest::Error, endpoint: &str) -> TokenError {
    let what = if e.is_timeout() {
        "did not answer in time".to_string()
    } else if e.is_connect() {
        "could not be reached".to_string()
    } else {
        "failed".to_string()
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    TokenError::new(
        TokenErrorKind::Temporary,
        format!(
            "The token request to {endpoint} {what}{}.",
            if cause.is_empty() {
                String::new()
            } else {
                format!(": {cause}")
            }
        ),
        "Check the token URL of the OAuth app and this machine's network; Mailroom tries again later.",
    )
}

//! What proves who we are to a mail server: a password, or an OAuth2 access token (sent with
//! SASL XOAUTH2 or OAUTHBEARER), and where a token comes from when Test Connection must fetch
//! one first (a `TokenSource`, timed as the probe's "token" step).
//!
//! Owns these types only. Must not fetch tokens itself (the token client is `crate::oauth`; the
//! application plugs a source in) and never prints a secret (`Secret` inside).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::Secret;

/// One login's secret.
#[derive(Debug, Clone)]
pub enum Login {
    /// Sent with AUTHENTICATE PLAIN when offered, else LOGIN.
    Password(Secret),
    /// Sent with AUTHENTICATE XOAUTH2 or OAUTHBEARER; `user=` is the target's login name
    /// (the mailbox, also when a delegate signed in for it).
    Token { access_token: Secret },
}

impl Login {
    pub fn is_token(&self) -> bool {
        matches!(self, Self::Token { .. })
    }
}

/// An access token from a `TokenSource`, with a line for the probe's step ("refresh_token
/// grant at login.microsoftonline.com; valid for 3599 s"), which must hold no secret.
#[derive(Debug)]
pub struct AccessToken {
    pub token: Secret,
    pub detail: String,
}

/// Why a source has no token, in words (e.g. `crate::oauth::TokenError`'s message and hint).
#[derive(Debug, Clone)]
pub struct TokenFailure {
    pub message: String,
    pub hint: Option<String>,
    /// The sign-in must be renewed by a person (`invalid_grant`, consent, app settings).
    pub needs_person: bool,
}

/// The future a `TokenSource` returns.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, TokenFailure>> + Send + 'a>>;

/// Gets an access token when asked: a refresh-token or client-credentials grant, or a cached
/// token that is still valid. Implemented outside `imap` (the application, over `oauth`).
pub trait TokenSource: Send + Sync {
    fn access_token(&self) -> TokenFuture<'_>;
}

/// What a connection logs in with: a login at hand, or a token to fetch first.
#[derive(Clone)]
pub enum Credentials {
    Login(Login),
    TokenSource(Arc<dyn TokenSource>),
}

impl Credentials {
    pub fn is_token(&self) -> bool {
        match self {
            Self::Login(l) => l.is_token(),
            Self::TokenSource(_) => true,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Login(l) => l.fmt(f),
            Self::TokenSource(_) => f.write_str("TokenSource"),
        }
    }
}

impl From<Login> for Credentials {
    fn from(l: Login) -> Self {
        Self::Login(l)
    }
}

impl From<&Login> for Credentials {
    fn from(l: &Login) -> Self {
        Self::Login(l.clone())
    }
}

/// A password (the copy is zeroed on drop like the original).
impl From<&Secret> for Credentials {
    fn from(password: &Secret) -> Self {
        Self::Login(Login::Password(password.clone()))
    }
}

impl From<Arc<dyn TokenSource>> for Credentials {
    fn from(source: Arc<dyn TokenSource>) -> Self {
        Self::TokenSource(source)
    }
}

impl From<&Credentials> for Credentials {
    fn from(c: &Credentials) -> Self {
        c.clone()
    }
}

//! Sign-in state of the admin pages: the session cookie, the `Admin` extractor that sends
//! anonymous visitors to the login page, CSRF checks, and the login throttle.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AdminSession;
use crate::web::SharedApp;

pub const COOKIE_NAME: &str = "mailroom_session";

/// A signed-in administrator; extracting it from an anonymous request redirects to login.
pub struct Admin {
    pub session: AdminSession,
    pub cookie_value: String,
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<SharedApp> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &SharedApp,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts.uri.path_and_query().map_or("/admin", |p| p.as_str());
            let next: String = url_encode(next);
            Redirect::to(&format!("/admin/login?next={next}")).into_response()
        };
        let Some(value) = cookie_value(&parts.headers) else {
            return Err(to_login());
        };
        match app.session(&value).await {
            Ok(Some(session)) => Ok(Self {
                session,
                cookie_value: value,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(crate::web::ApiError::from(e).into_response()),
        }
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `Set-Cookie` value that opens (or, with an empty value, ends) a session.
pub fn session_cookie(value: &str, secure: bool) -> HeaderValue {
    let max_age = if value.is_empty() { 0 } else { 12 * 3600 };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie text is ASCII")
}

/// Served over TLS, directly or behind a proxy that says so.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Compares the form's CSRF token with the session's, in constant time.
pub fn csrf_ok(session: &AdminSession, submitted: &str) -> bool {
    let (a, b) = (session.csrf_token.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a cross-site POST: when the browser says where the form came from, it must be here.
pub async fn same_origin_posts(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == Method::POST
        && let Some(origin) = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok())
    {
        let host = req
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split("://").nth(1).unwrap_or("");
        if origin == "null" || origin_host != host {
            return (StatusCode::FORBIDDEN, "Cross-site form posts are refused.").into_response();
        }
    }
    next.run(req).await
}

/// Failed sign-ins per client address: after `MAX_FAILURES` within `WINDOW`, sign-in is refused
/// until the oldest failure leaves the window.
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

const MAX_FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_secs(15 * 60);

impl LoginThrottle {
    pub fn new() -> Self {
        Self {
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(wait)` when this address must wait before trying again.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let mut map = self.failures.lock().expect("throttle lock");
        let list = map.entry(ip).or_default();
        let now = Instant::now();
        list.retain(|t| now.duration_since(*t) < WINDOW);
        (list.len() >= MAX_FAILURES).then(|| WINDOW - now.duration_since(list[0]))
    }

    pub fn record_failure(&self, ip: IpAddr) {
        let mut map = self.failures.lock().expect("throttle lock");
        map.entry(ip).or_default().push(Instant::now());
    }

    pub fn clear(&self, ip: IpAddr) {
        self.failures.lock().expect("throttle lock").remove(&ip);
    }
}

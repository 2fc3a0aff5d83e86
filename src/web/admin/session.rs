//! Sign-in state of the admin pages: the session cookie, the `Admin` extractor that sends
//! anonymous visitors to the login page, CSRF checks, and the same-site rule for every admin
//! request (public host, form origin).

use axum::extract::{FromRequestParts, State};
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AdminSession;
use crate::web::SharedApp;
use crate::web::edge::{FormOrigin, form_origin, names_public_host};

pub const COOKIE_NAME: &str = "mailroom_session";

/// A signed-in administrator; extracting it from an anonymous request redirects to login.
#[derive(Clone)]
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
        // A POST's session was already read (and its CSRF token checked) by `csrf_on_every_post`.
        if let Some(admin) = parts.extensions.get::<Admin>() {
            return Ok(admin.clone());
        }
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
///
/// `SameSite=Lax`, not `Strict`: the OAuth2 sign-in comes back from Microsoft's or Google's
/// site with a top-level GET to `/admin/oauth/callback`, which must carry the session its
/// `state` is bound to (with `Strict` the browser leaves the cookie out and every real sign-in
/// is refused). Lax still keeps the cookie off cross-site POSTs, and every admin POST is also
/// checked for its CSRF token and origin; admin GETs change nothing.
pub fn session_cookie(value: &str, secure: bool) -> HeaderValue {
    let max_age = if value.is_empty() { 0 } else { 12 * 3600 };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path=/admin; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("cookie text is ASCII")
}

/// Compares the form's CSRF token with the session's, in constant time.
pub fn csrf_ok(session: &AdminSession, submitted: &str) -> bool {
    let (a, b) = (session.csrf_token.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Admin requests must name this service's public host (when one is set), and a form post
/// must come from this site: refused when the browser names another site, and for the login
/// form (the one form without a session's CSRF token) also when it names none.
pub async fn same_site_requests(
    State(app): State<SharedApp>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let web = app.settings().web();
    if !names_public_host(req.headers(), web) {
        let url = web.public_url.as_ref().map_or("", |u| u.origin.as_str());
        return (
            StatusCode::MISDIRECTED_REQUEST,
            format!("This address is not the one Mailroom is served at: open {url}/admin instead."),
        )
            .into_response();
    }
    if req.method() == Method::POST {
        let refused = match form_origin(req.headers(), web) {
            FormOrigin::SameOrigin => None,
            FormOrigin::CrossSite => Some("Cross-site form posts are refused."),
            FormOrigin::Unknown if req.uri().path() == LOGIN_PATH => Some(
                "Sign-in refused: the browser did not say which site the form came from. Sign in from the Mailroom login page in an up-to-date browser.",
            ),
            FormOrigin::Unknown => None,
        };
        if let Some(message) = refused {
            return (StatusCode::FORBIDDEN, message).into_response();
        }
    }
    next.run(req).await
}

/// The sign-in page and form.
pub const LOGIN_PATH: &str = "/admin/login";

/// Every admin POST but the login form must carry its session's CSRF token (the `csrf` form
/// field): checked here, for every route at once, so no handler can forget it. A POST without
/// a session goes on to its handler, whose `Admin` extractor sends it to the login page.
pub async fn csrf_on_every_post(
    State(app): State<SharedApp>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() != Method::POST || req.uri().path() == LOGIN_PATH {
        return next.run(req).await;
    }
    let Some(value) = cookie_value(req.headers()) else {
        return next.run(req).await;
    };
    let session = match app.session(&value).await {
        Ok(Some(session)) => session,
        Ok(None) => return next.run(req).await,
        Err(e) => return crate::web::ApiError::from(e).into_response(),
    };
    let admin = Admin {
        session,
        cookie_value: value,
    };
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::web::MAX_BODY_BYTES).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
    };
    let submitted = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !csrf_ok(&admin.session, &submitted) {
        return super::pages_common::csrf_refused(&admin, "/admin/email-integration");
    }
    parts.extensions.insert(admin);
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

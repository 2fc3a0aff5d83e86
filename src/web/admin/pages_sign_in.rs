//! Signing in and out of the admin pages: the login form (throttled, same-site only, see
//! `session`), the session cookie, and where to go after signing in. Must not hold the
//! throttle's rules (`login_throttle`) or read proxy headers itself (`web::edge`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::LoginThrottle;
use super::pages_common::{Frame, flash_text, render as page};
use super::session::{Admin, session_cookie};
use crate::app::AppError;
use crate::domain::Secret;
use crate::web::SharedApp;
use crate::web::edge::{client_address, is_https};

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    frame: Frame,
    error: Option<String>,
    next: String,
    username: String,
}

/// Only local admin paths, in plain printable ASCII, are followed after sign-in.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n)
            if n.starts_with("/admin")
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.clone()
        }
        _ => "/admin/email-integration".to_string(),
    }
}

pub async fn login_page(Query(q): Query<HashMap<String, String>>) -> Response {
    page(
        StatusCode::OK,
        &LoginPage {
            frame: Frame {
                flash: flash_text(&q),
                ..Frame::signed_out()
            },
            error: None,
            next: safe_next(q.get("next")),
            username: String::new(),
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    password: Option<Secret>,
    next: Option<String>,
}

pub async fn login_submit(
    State(app): State<SharedApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(throttle): Extension<Arc<LoginThrottle>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_ref());
    let fail = |status: StatusCode, error: String| {
        page(
            status,
            &LoginPage {
                frame: Frame::signed_out(),
                error: Some(error),
                next: next.clone(),
                username: form.username.clone(),
            },
        )
    };
    let web = app.settings().web();
    // Counted before the password is checked: parallel guesses get no more tries than
    // sequential ones.
    let attempt = match throttle.begin(&form.username, client_address(peer.ip(), &headers, web)) {
        Ok(a) => a,
        Err(wait) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            return fail(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed sign-ins for this account from this address. Try again in {minutes} minute(s)."
                ),
            );
        }
    };
    let password = form
        .password
        .clone()
        .unwrap_or_else(|| Secret::new(String::new()));
    match app.sign_in(&form.username, &password).await {
        Ok(Some((cookie, _))) => {
            throttle.succeeded(attempt);
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().insert(
                SET_COOKIE,
                session_cookie(&cookie, is_https(peer.ip(), &headers, web)),
            );
            r
        }
        Ok(None) => fail(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".to_string(),
        ),
        Err(AppError::TooManyRequests { message, .. }) => {
            fail(StatusCode::TOO_MANY_REQUESTS, message)
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is not possible right now; the server log has the details.".into(),
            )
        }
    }
}

pub async fn logout(
    State(app): State<SharedApp>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    admin: Admin,
    headers: HeaderMap,
) -> Response {
    let _ = app.sign_out(&admin.cookie_value).await;
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut().insert(
        SET_COOKIE,
        session_cookie("", is_https(peer.ip(), &headers, app.settings().web())),
    );
    r
}

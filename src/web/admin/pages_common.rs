//! Small helpers shared by the `pages_*` modules (aliases, reference data, processing):
//! rendering a template, the message page, mapping an `AppError` to a page, ids from paths.
//!
//! Owns no route and no business rule; must not build HTML with `format!`.

use std::collections::HashMap;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::session::Admin;
use crate::app::AppError;
use crate::domain::ValidationError;

/// Renders a template, or a plain 500 if rendering itself fails.
pub fn render(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    }
}

/// What every page inside the signed-in frame needs for `base.html`.
/// Every page's frame (`base.html`): who is signed in, the session's CSRF token for the forms,
/// and the message after a redirect. One field of every page instead of three copies.
pub struct Frame {
    pub user: Option<String>,
    pub csrf: String,
    pub flash: Option<String>,
}

impl Frame {
    pub fn of(admin: &Admin) -> Self {
        Self {
            user: Some(admin.session.username.clone()),
            csrf: admin.session.csrf_token.clone(),
            flash: None,
        }
    }

    /// The frame of the sign-in page: nobody signed in yet.
    pub fn signed_out() -> Self {
        Self {
            user: None,
            csrf: String::new(),
            flash: None,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessagePage {
    frame: Frame,
    title: String,
    message: String,
    back: String,
}

pub fn message(admin: &Admin, status: StatusCode, title: &str, text: &str, back: &str) -> Response {
    let f = Frame::of(admin);
    render(
        status,
        &MessagePage {
            frame: f,
            title: title.to_string(),
            message: text.to_string(),
            back: back.to_string(),
        },
    )
}

pub fn csrf_refused(admin: &Admin, back: &str) -> Response {
    message(
        admin,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was not sent by this session (missing or wrong CSRF token). Reload the page and try again.",
        back,
    )
}

/// Maps an `AppError` to a message page (forms handle their validation errors themselves).
pub fn error_page(admin: &Admin, e: AppError, back: &str) -> Response {
    match e {
        AppError::NotFound(what) => message(
            admin,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("That {what} does not exist."),
            back,
        ),
        AppError::Conflict { message: m, .. } => {
            message(admin, StatusCode::CONFLICT, "Not possible", &m, back)
        }
        AppError::Validation(v) => message(
            admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid input",
            &v.to_string(),
            back,
        ),
        AppError::Upstream(m) => message(
            admin,
            StatusCode::BAD_GATEWAY,
            "Mail server problem",
            &m,
            back,
        ),
        AppError::TooManyRequests { message: m, .. } => message(
            admin,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            &m,
            back,
        ),
        AppError::Other(e) => {
            tracing::error!(error = format!("{e:#}"), "admin page failed");
            message(
                admin,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Internal error; the server log has the details.",
                back,
            )
        }
    }
}

/// What a page handler answers: the page, or the message page that says why not.
pub type Page = Result<Response, ErrorPage>;

/// A message page in place of the one asked for (boxed: a `Response` is large).
pub struct ErrorPage(Box<Response>);

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl From<Response> for ErrorPage {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

/// `error_page` with `?`: `app.get_case(id).await.or_page(&admin, "/admin/cases")?`.
pub trait OrPage<T> {
    fn or_page(self, admin: &Admin, back: &str) -> Result<T, ErrorPage>;
}

impl<T> OrPage<T> for Result<T, AppError> {
    fn or_page(self, admin: &Admin, back: &str) -> Result<T, ErrorPage> {
        self.map_err(|e| error_page(admin, e, back).into())
    }
}

/// A positive id from a path segment.
pub fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// The id of a `what` in a path segment, or its not-found page (with a link `back`).
pub fn path_id(admin: &Admin, raw: &str, what: &'static str, back: &str) -> Result<i64, ErrorPage> {
    parse_id(raw)
        .ok_or(AppError::NotFound(what))
        .or_page(admin, back)
}

/// An optional id from a form or query value: empty is `None`, anything else must be an id.
pub fn optional_id(raw: &str) -> Result<Option<i64>, ()> {
    match raw.trim() {
        "" => Ok(None),
        s => parse_id(s).map(Some).ok_or(()),
    }
}

/// Field errors of a form, looked up by the contract name of the field.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(pub Vec<ValidationError>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The status of a page showing these errors: 409 when one is a conflict with stored data
    /// (a name already used), 422 for invalid input, 200 for none.
    pub fn status(&self) -> StatusCode {
        if self.0.is_empty() {
            StatusCode::OK
        } else if self.0.iter().any(|e| e.rule == "conflict") {
            StatusCode::CONFLICT
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    }

    /// The errors of a refused save: validation errors per field, a conflict on its field.
    /// Anything else is handed back.
    pub fn from_app(e: AppError, conflict_default: &'static str) -> Result<Self, AppError> {
        match e {
            AppError::Validation(v) => Ok(Self(v.0)),
            AppError::Conflict { field, message } => Ok(Self(vec![ValidationError::new(
                field.unwrap_or(conflict_default),
                "conflict",
                message,
            )])),
            other => Err(other),
        }
    }
}

/// What a page says after a redirect from a change (`?flash=key`).
const FLASHES: &[(&str, &str)] = &[
    ("saved", "Saved."),
    ("alias-deleted", "Alias deleted."),
    (
        "created",
        "Credential saved. Add an alias for its mailbox next.",
    ),
    (
        "password-changed",
        "Password changed. Click Test Connection to test the new password.",
    ),
    ("deleted", "Credential deleted."),
    (
        "signed-in",
        "Signed in: the refresh token is stored sealed. Processing uses it from the next poll.",
    ),
];

/// The text of a `?flash=` key set by a redirect after a change.
pub fn flash_text(q: &HashMap<String, String>) -> Option<String> {
    let key = q.get("flash")?;
    FLASHES
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, t)| t.to_string())
}

//! `ApiError`: every error an HTTP client sees, as `{"error": {code, message, field}}`.
//! 500s are logged with their cause and shown without internal detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppError;
use crate::domain::ValidationErrors;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Every broken rule, for validation errors.
    pub errors: Option<ValidationErrors>,
    /// Seconds to wait, sent as `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            errors: None,
            retry_after: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required: send Authorization: Bearer <token>.",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found."),
        )
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation(errors) => {
                let first = errors.first();
                // A rule a client must act on in its own way is also the error's code.
                let code = match first.rule {
                    "password_required" => "password_required",
                    _ => "validation_failed",
                };
                let mut api = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    first.message.clone(),
                )
                .field(first.field);
                api.errors = Some(errors);
                api
            }
            AppError::Conflict { field, message } => {
                let api = Self::new(StatusCode::CONFLICT, "conflict", message);
                match field {
                    Some(f) => api.field(f),
                    None => api,
                }
            }
            AppError::NotFound(what) => {
                let mut w = what.to_string();
                if let Some(first) = w.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                Self::not_found(&w)
            }
            AppError::Upstream(message) => {
                Self::new(StatusCode::BAD_GATEWAY, "mailbox_unavailable", message)
            }
            AppError::TooManyRequests {
                message,
                retry_after,
            } => {
                let mut api =
                    Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
                api.retry_after = Some(retry_after.as_secs().max(1));
                api
            }
            AppError::Other(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error; the server log has the details.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "field": self.field,
        });
        if let Some(errors) = &self.errors {
            error["rule"] = json!(errors.first().rule);
            error["details"] = errors
                .0
                .iter()
                .map(|e| json!({"field": e.field, "rule": e.rule, "message": e.message}))
                .collect();
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

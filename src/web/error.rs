//! `ApiError`: every error an HTTP client sees, as `{"error": {code, message, field, …}}` — the
//! `ErrorBody` schema of the OpenAPI document is the type this file serialises, so the two
//! cannot differ. 500s are logged with their cause and shown without internal detail; 401s carry
//! `WWW-Authenticate: Bearer`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::{AppError, RowError};
use crate::domain::ValidationErrors;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Every broken rule (validation) or every bad row (a refused import).
    pub broken: Option<Broken>,
    /// Seconds to wait, sent as `Retry-After` (429).
    pub retry_after: Option<u64>,
}

/// What an error lists besides its message.
#[derive(Debug)]
pub enum Broken {
    Rules(ValidationErrors),
    Rows(Vec<RowError>),
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, in words and as stable names.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable name: `validation_failed`, `password_required`, `invalid_type`,
    /// `unknown_field`, `invalid_json`, `invalid_query`, `unsupported_media_type`,
    /// `payload_too_large`, `unauthorized`, `not_found`, `method_not_allowed`, `conflict`,
    /// `import_rejected`, `too_many_requests`, `mailbox_unavailable`, `internal`.
    pub code: &'static str,
    /// A sentence for people, naming the field and the rule.
    pub message: String,
    /// The field at fault (of the first broken rule), or null.
    #[schema(required = true)]
    pub field: Option<String>,
    /// Validation errors: the rule of the first broken rule (`required`, `too_long`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rule: Option<&'static str>,
    /// Validation errors: every broken rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub details: Option<Vec<ErrorItem>>,
    /// A refused import: every broken rule of every row (nothing was imported).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rows: Option<Vec<RowError>>,
}

/// One broken rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    pub field: &'static str,
    pub rule: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            broken: None,
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

    /// A refused import listing every bad row: 409 when the rows only repeat values stored
    /// records have (as one create answers), else 422.
    pub fn import_rejected(rows: Vec<RowError>) -> Self {
        let taken = !rows.is_empty() && rows.iter().all(|r| r.rule == "conflict");
        let mut api = Self::new(
            match taken {
                true => StatusCode::CONFLICT,
                false => StatusCode::UNPROCESSABLE_ENTITY,
            },
            "import_rejected",
            crate::app::ImportError::summary(&rows),
        );
        api.field = rows.first().map(|r| r.field.clone());
        api.broken = Some(Broken::Rows(rows));
        api
    }

    fn body(self) -> ErrorBody {
        let (errors, rows) = match self.broken {
            Some(Broken::Rules(e)) => (Some(e), None),
            Some(Broken::Rows(r)) => (None, Some(r)),
            None => (None, None),
        };
        let errors = errors.as_ref();
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
                rule: errors.map(|e| e.first().rule),
                details: errors.map(|e| {
                    e.0.iter()
                        .map(|e| ErrorItem {
                            field: e.field,
                            rule: e.rule,
                            message: e.message.clone(),
                        })
                        .collect()
                }),
                rows,
            },
        }
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
                api.broken = Some(Broken::Rules(errors));
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
        let (status, retry_after) = (self.status, self.retry_after);
        let mut response = (status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, seconds.into());
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: the scheme the client must use.
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

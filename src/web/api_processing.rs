//! Processing routes: run a poll now, cases (list with filters, details, attachment bytes, the
//! original email), and Retry of an exception-log entry.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use super::SharedApp;
use super::error::ApiError;
use super::extract::{path_id, query_number};
use crate::app::Principal;
use crate::store::CaseFilter;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/credentials/{id}/poll", post(poll_now))
        .route("/cases", get(list_cases))
        .route("/cases/{id}", get(get_case))
        .route("/cases/{id}/attachments/{attachment_id}", get(attachment))
        .route("/cases/{id}/original", get(original))
        .route("/exceptions/{id}/retry", post(retry))
}

/// An optional RFC 3339 time or unix-milliseconds query parameter.
fn time(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(v) = q.get(key).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    humantime::parse_rfc3339_weak(v)
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!(
                    "{key} must be an RFC 3339 time (2026-11-28T10:00:00Z) or unix milliseconds."
                ),
            )
            .field(key)
        })
}

async fn poll_now(
    State(app): State<SharedApp>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&raw, "Credential")?;
    Ok(Json(app.poll_once(id, |_, _| {}).await?))
}

async fn list_cases(
    State(app): State<SharedApp>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = CaseFilter {
        credential_id: query_number(&q, "credential_id")?,
        alias_id: query_number(&q, "alias_id")?,
        workspace_id: query_number(&q, "workspace_id")?,
        since: time(&q, "since")?,
        until: time(&q, "until")?,
        limit: query_number(&q, "limit")?.unwrap_or(100).clamp(1, 1000),
        before_id: query_number(&q, "before")?,
    };
    Ok(Json(json!({ "items": app.list_cases(&filter).await? })))
}

async fn get_case(
    State(app): State<SharedApp>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.get_case(path_id(&raw, "Case")?).await?))
}

async fn attachment(
    State(app): State<SharedApp>,
    Path((case, att)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let (row, bytes) = app
        .case_attachment(path_id(&case, "Case")?, path_id(&att, "Attachment")?)
        .await?;
    let safe_name: String = row
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe_name}\""),
            ),
        ],
        bytes,
    ))
}

/// The original email, byte for byte as the server sent it.
async fn original(
    State(app): State<SharedApp>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&raw, "Case")?;
    let bytes = app.case_original(id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"case-{id}.eml\""),
            ),
        ],
        bytes,
    ))
}

async fn retry(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        app.retry_exception(&who.actor, path_id(&raw, "Exception")?)
            .await?,
    ))
}

//! Processing routes: run a poll now, cases (list with filters, details, attachment bytes, the
//! original email), and Retry of an exception-log entry.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::Items;
use super::error::{ApiError, ErrorBody};
use super::extract::{path_id, query_number, query_time};
use super::{SharedApp, download};
use crate::app::processing::PollReport;
use crate::app::{CaseView, Principal, RetryOutcome};
use crate::store::CaseFilter;

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new()
        .routes(routes!(poll_now))
        .routes(routes!(list_cases))
        .routes(routes!(get_case))
        .routes(routes!(attachment))
        .routes(routes!(original))
        .routes(routes!(retry))
}

/// Run a poll of this credential now
#[utoipa::path(post, path = "/credentials/{id}/poll", tag = "processing", operation_id = "poll_credential",
    params(("id" = i64, Path, description = "The credential's id")),
    responses(
        (status = 200, description = "What the poll did", body = PollReport),
        (status = 422, description = "The credential cannot log in as configured (for example an oauth2 credential that was never signed in)", body = ErrorBody),
        (status = 502, description = "The mailbox could not be reached or refused a step (`mailbox_unavailable`, in words)", body = ErrorBody),
    ))]
async fn poll_now(
    State(app): State<SharedApp>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&raw, "Credential")?;
    Ok(Json(app.poll_once(id, |_, _| {}).await?))
}

/// List cases, newest first
#[utoipa::path(get, path = "/cases", tag = "cases", operation_id = "list_cases",
    params(
        ("credential_id" = Option<i64>, Query, description = "Only this credential's cases"),
        ("alias_id" = Option<i64>, Query, description = "Only cases routed by this alias"),
        ("workspace_id" = Option<i64>, Query, description = "Only this workspace's cases"),
        ("since" = Option<String>, Query, description = "Created at or after: an RFC 3339 time with any offset (2026-11-28T10:00:00-05:00) or unix milliseconds"),
        ("until" = Option<String>, Query, description = "Created before: an RFC 3339 time with any offset or unix milliseconds"),
        ("limit" = Option<i64>, Query, description = "How many cases (1–1000, default 100; other values are brought into that range)"),
        ("before" = Option<i64>, Query, description = "Only cases with an id below this one (the next page)"),
    ),
    responses((status = 200, description = "Cases, newest first (without their attachments' list)", body = Items<CaseView>)))]
async fn list_cases(
    State(app): State<SharedApp>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = CaseFilter {
        credential_id: query_number(&q, "credential_id")?,
        alias_id: query_number(&q, "alias_id")?,
        workspace_id: query_number(&q, "workspace_id")?,
        since: query_time(&q, "since")?,
        until: query_time(&q, "until")?,
        limit: query_number(&q, "limit")?.unwrap_or(100).clamp(1, 1000),
        before_id: query_number(&q, "before")?,
    };
    Ok(Items::of(app.list_cases(&filter).await?))
}

/// Case details with its attachments
#[utoipa::path(get, path = "/cases/{id}", tag = "cases", operation_id = "get_case",
    params(("id" = i64, Path, description = "The case's id")),
    responses((status = 200, description = "The case", body = CaseView)))]
async fn get_case(
    State(app): State<SharedApp>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.get_case(path_id(&raw, "Case")?).await?))
}

/// An attachment's bytes
#[utoipa::path(get, path = "/cases/{id}/attachments/{attachment_id}", tag = "cases",
    operation_id = "get_case_attachment",
    params(
        ("id" = i64, Path, description = "The case's id"),
        ("attachment_id" = i64, Path, description = "The attachment's id (from the case's `attachments`)"),
    ),
    responses((status = 200, description = "The attachment, as a download", body = Vec<u8>,
        content_type = "application/octet-stream",
        headers(("Content-Disposition" = String, description = "attachment; filename=\"…\"")))))]
async fn attachment(
    State(app): State<SharedApp>,
    Path((case, att)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let (row, bytes) = app
        .case_attachment(path_id(&case, "Case")?, path_id(&att, "Attachment")?)
        .await?;
    Ok(download("application/octet-stream", &row.name, bytes))
}

/// The original email, byte for byte as the server sent it
#[utoipa::path(get, path = "/cases/{id}/original", tag = "cases", operation_id = "get_case_original",
    params(("id" = i64, Path, description = "The case's id")),
    responses((status = 200, description = "The original email (404 when it was not kept or has been pruned)",
        body = Vec<u8>, content_type = "message/rfc822",
        headers(("Content-Disposition" = String, description = "attachment; filename=\"case-{id}.eml\"")))))]
async fn original(
    State(app): State<SharedApp>,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&raw, "Case")?;
    let bytes = app.case_original(id).await?;
    Ok(download("message/rfc822", &format!("case-{id}.eml"), bytes))
}

/// Retry an exception-log entry (routing again)
#[utoipa::path(post, path = "/exceptions/{id}/retry", tag = "processing", operation_id = "retry_exception",
    params(("id" = i64, Path, description = "The exception-log entry's id")),
    responses(
        (status = 200, description = "The case made", body = RetryOutcome),
        (status = 409, description = "The entry cannot become a case (retried already, no credential, still unreadable or routed nowhere), in words", body = ErrorBody),
        (status = 502, description = "The mailbox could not be reached to fetch the email again", body = ErrorBody),
    ))]
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

//! JSON API for the exception log: processing errors to review, newest first. The handler
//! parses, calls one `app` function and answers (Retry is with processing).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::api::Items;
use super::error::ApiError;
use super::extract::query_number;
use crate::app::ExceptionView;

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new().routes(routes!(list_exceptions))
}

/// The exception log, newest first
#[utoipa::path(get, path = "/exceptions", tag = "processing", operation_id = "list_exceptions",
    params(
        ("limit" = Option<i64>, Query, description = "How many entries (1–1000, default 100; other values are brought into that range)"),
        ("before" = Option<i64>, Query, description = "Only entries with an id below this one (the next page)"),
        ("credential_id" = Option<i64>, Query, description = "Only this credential's entries"),
    ),
    responses((status = 200, description = "Entries, newest first", body = Items<ExceptionView>)))]
async fn list_exceptions(
    State(app): State<SharedApp>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query_number(&q, "limit")?.unwrap_or(100);
    let before = query_number(&q, "before")?;
    let credential = query_number(&q, "credential_id")?;
    Ok(Items::of(
        app.list_exceptions(limit, before, credential).await?,
    ))
}

//! JSON API for the exception log: processing errors to review, newest first. The handler
//! parses, calls one `app` function and answers (Retry is with processing).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::SharedApp;
use super::error::ApiError;
use super::extract::query_number;

pub fn routes() -> Router<SharedApp> {
    Router::new().route("/exceptions", get(list_exceptions))
}

async fn list_exceptions(
    State(app): State<SharedApp>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query_number(&q, "limit")?.unwrap_or(100);
    let before = query_number(&q, "before")?;
    let credential = query_number(&q, "credential_id")?;
    let items = app.list_exceptions(limit, before, credential).await?;
    Ok(Json(json!({ "items": items })))
}

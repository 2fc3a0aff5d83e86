//! Provider presets over HTTP: `GET /api/v1/providers` (the presets) and
//! `GET /api/v1/providers/detect?mailbox=…` (the guess for a mailbox; 200 even when nothing is
//! found, 422 naming `mailbox` when it is missing or not an address).
//!
//! Owns only the HTTP shape; the presets and the detection are `app::providers`.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::SharedApp;
use super::error::ApiError;
use crate::app::DetectionView;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/providers", get(list))
        .route("/providers/detect", get(detect))
}

async fn list(State(app): State<SharedApp>) -> Json<Value> {
    Json(json!({ "items": app.provider_presets() }))
}

async fn detect(
    State(app): State<SharedApp>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<DetectionView>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "The query string could not be read.",
        )
    })?;
    let mailbox = q.get("mailbox").map(String::as_str);
    Ok(Json(app.detect_provider(mailbox).await?))
}

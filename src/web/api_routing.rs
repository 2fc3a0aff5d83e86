//! JSON API for the routing dry run: where mail to these recipients from this sender would go,
//! and why. The handler parses, calls one `app` function and answers.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};

use super::SharedApp;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::app::RouteRequest;

pub fn routes() -> Router<SharedApp> {
    Router::new().route("/routing/resolve", post(resolve))
}

async fn resolve(
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<RouteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.resolve_route(&req).await?))
}

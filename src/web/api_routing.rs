//! JSON API for the routing dry run: where mail to these recipients from this sender would go,
//! and why. The handler parses, calls one `app` function and answers.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::app::{RouteRequest, RouteView};

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new().routes(routes!(resolve))
}

/// Dry run: where mail to these recipients from this sender would go, and why
///
/// Needs `from` and at least one recipient (`to`, `cc`, `delivered_to` or `x_original_to`).
/// Nothing is stored.
#[utoipa::path(post, path = "/routing/resolve", tag = "routing", operation_id = "resolve_route",
    request_body = RouteRequest,
    responses((status = 200, description = "The decision with its reasons", body = RouteView)))]
async fn resolve(
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<RouteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.resolve_route(&req).await?))
}

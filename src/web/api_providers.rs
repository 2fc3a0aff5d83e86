//! Provider presets over HTTP: `GET /api/v1/providers` (the presets) and
//! `GET /api/v1/providers/detect?mailbox=…` (the guess for a mailbox; 200 even when nothing is
//! found, 422 naming `mailbox` when it is missing or not an address).
//!
//! Owns only the HTTP shape; the presets and the detection are `app::providers`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::api::Items;
use super::error::{ApiError, ErrorBody};
use crate::app::{DetectionView, ProviderView};
use crate::domain::providers::PRESETS_SUMMARY;

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detect))
}

/// The provider presets
#[utoipa::path(get, path = "/providers", tag = "providers", operation_id = "list_providers",
    description = PRESETS_SUMMARY,
    responses((status = 200, description = "Every preset", body = Items<ProviderView>)))]
async fn list(State(app): State<SharedApp>) -> Json<Items<ProviderView>> {
    Items::of(app.provider_presets())
}

/// Guess a mailbox's provider
///
/// Its domain, then MX records, then RFC 6186 `_imaps._tcp` SRV; answers `found_by` (`domain`,
/// `mx`, `srv` or `none`, with the reason), the preset and host, port and security. 200 even
/// when nothing is found.
#[utoipa::path(get, path = "/providers/detect", tag = "providers", operation_id = "detect_provider",
    params(("mailbox" = String, Query, format = Email, description = "The mailbox address")),
    responses(
        (status = 200, description = "The guess", body = DetectionView),
        (status = 422, description = "`mailbox` is missing or not an address (`validation_failed` naming `mailbox`)", body = ErrorBody),
    ))]
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

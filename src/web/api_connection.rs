//! Test Connection over HTTP: `POST /api/v1/connection-tests` (form values, password included)
//! and `POST /api/v1/credentials/{id}/connection-tests` (stored password, optional overrides).
//!
//! A finished test answers 200 whatever its outcome (`ok` says which); only a request that
//! cannot be tested (invalid fields, unknown credential) is an error. Must not log bodies.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::routing::post;
use axum::{Extension, Json, Router};

use super::SharedApp;
use super::error::ApiError;
use super::extract::JsonBody;
use crate::app::{ConnectionOverrides, ConnectionTestView, Principal};
use crate::domain::RawCredential;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/connection-tests", post(test_form_values))
        .route("/credentials/{id}/connection-tests", post(test_stored))
}

async fn test_form_values(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawCredential>,
) -> Result<Json<ConnectionTestView>, ApiError> {
    Ok(Json(app.test_connection(&who.actor, &raw).await?))
}

async fn test_stored(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<ConnectionTestView>, ApiError> {
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found("Credential"))?;
    // An empty body means "no overrides"; anything else must be a JSON object.
    let empty = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0")
        || (request.headers().get(CONTENT_LENGTH).is_none()
            && request.headers().get(CONTENT_TYPE).is_none());
    let overrides = if empty {
        ConnectionOverrides::default()
    } else {
        let JsonBody(o) = JsonBody::<ConnectionOverrides>::from_request(request, &app).await?;
        o
    };
    Ok(Json(
        app.test_stored_credential(&who.actor, id, &overrides)
            .await?,
    ))
}

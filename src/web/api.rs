//! The JSON API handlers under `/api/v1`: each parses, calls one `app` function, and answers.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::SharedApp;
use super::error::ApiError;
use super::extract::{JsonBody, path_id, query_number};
use crate::app::Principal;
use crate::domain::{RawCredential, Secret};

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/openapi.json", get(super::openapi::document))
        .route(
            "/credentials",
            get(list_credentials).post(create_credential),
        )
        .route(
            "/credentials/{id}",
            get(get_credential)
                .patch(update_credential)
                .delete(delete_credential),
        )
        .route("/credentials/{id}/password", post(change_password))
        .route("/audit", get(list_audit))
        .merge(super::api_connection::routes())
        .merge(super::api_aliases::routes())
        .merge(super::api_reference::routes())
        .merge(super::api_routing::routes())
        .merge(super::api_exceptions::routes())
        .merge(super::api_processing::routes())
        .merge(super::api_providers::routes())
        .merge(super::api_oauth::routes())
}

async fn list_credentials(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    let items = app.list_credentials().await?;
    Ok(Json(json!({ "items": items })))
}

async fn create_credential(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawCredential>,
) -> Result<impl IntoResponse, ApiError> {
    let view = app.create_credential(&who.actor, &raw).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn get_credential(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    Ok(Json(app.get_credential(id).await?))
}

async fn update_credential(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawCredential>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    Ok(Json(app.update_credential(&who.actor, id, raw).await?))
}

async fn delete_credential(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    app.delete_credential(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    new_password: Option<Secret>,
    confirm_password: Option<Secret>,
}

async fn change_password(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    let view = app
        .change_password(
            &who.actor,
            id,
            body.new_password.as_ref(),
            body.confirm_password.as_ref(),
        )
        .await?;
    Ok(Json(view))
}

async fn list_audit(
    State(app): State<SharedApp>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query_number(&q, "limit")?.unwrap_or(100);
    let before = query_number(&q, "before")?;
    let items = app.list_audit(limit, before).await?;
    let items: Vec<_> = items
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": crate::app::iso_time(r.at),
                "actor": r.actor,
                "action": r.action,
                "target_type": r.target_type,
                "target_id": r.target_id,
                "summary": r.summary,
                "details": r.details,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

//! JSON API for aliases: a credential's aliases, every alias, details, edit, delete. Each
//! handler parses, calls one `app` function and answers; no rules live here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use super::SharedApp;
use super::error::ApiError;
use super::extract::{JsonBody, path_id};
use crate::app::Principal;
use crate::domain::RawAlias;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route(
            "/credentials/{id}/aliases",
            get(list_credential_aliases).post(create_alias),
        )
        .route("/aliases", get(list_aliases))
        .route(
            "/aliases/{id}",
            get(get_alias).patch(update_alias).delete(delete_alias),
        )
}

async fn list_credential_aliases(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    Ok(Json(json!({ "items": app.list_aliases(Some(id)).await? })))
}

async fn list_aliases(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({ "items": app.list_aliases(None).await? })))
}

async fn create_alias(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawAlias>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    let view = app.create_alias(&who.actor, id, &raw).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn get_alias(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Alias")?;
    Ok(Json(app.get_alias(id).await?))
}

async fn update_alias(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawAlias>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Alias")?;
    Ok(Json(app.update_alias(&who.actor, id, &raw).await?))
}

async fn delete_alias(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Alias")?;
    app.delete_alias(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

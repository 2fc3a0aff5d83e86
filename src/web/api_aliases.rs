//! JSON API for aliases: a credential's aliases, every alias, details, edit, delete. Each
//! handler parses, calls one `app` function and answers; no rules live here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::api::{Items, created};
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, path_id};
use crate::app::{AliasView, Principal};
use crate::domain::RawAlias;

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new()
        .routes(routes!(list_credential_aliases, create_alias))
        .routes(routes!(list_aliases))
        .routes(routes!(get_alias, update_alias, delete_alias))
}

/// A credential's aliases
#[utoipa::path(get, path = "/credentials/{id}/aliases", tag = "aliases",
    operation_id = "list_credential_aliases",
    params(("id" = i64, Path, description = "The credential's id")),
    responses((status = 200, description = "The credential's aliases", body = Items<AliasView>)))]
async fn list_credential_aliases(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    Ok(Items::of(app.list_aliases(Some(id)).await?))
}

/// Every alias
#[utoipa::path(get, path = "/aliases", tag = "aliases", operation_id = "list_aliases",
    responses((status = 200, description = "Every alias", body = Items<AliasView>)))]
async fn list_aliases(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Items::of(app.list_aliases(None).await?))
}

/// Add an alias to a credential
///
/// `project_type_id` defaults to the built-in Client Service Case.
#[utoipa::path(post, path = "/credentials/{id}/aliases", tag = "aliases",
    operation_id = "create_alias",
    params(("id" = i64, Path, description = "The credential's id")),
    request_body = ref("#/components/schemas/AliasInput"),
    responses(
        (status = 201, description = "Created", body = AliasView,
            headers(("Location" = String, description = "The new alias: /api/v1/aliases/{id}"))),
        (status = 409, description = "The address is another alias's, or the credential has a default alias already", body = ErrorBody),
    ))]
async fn create_alias(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawAlias>,
) -> Result<Response, ApiError> {
    let id = path_id(&id, "Credential")?;
    let view = app.create_alias(&who.actor, id, &raw).await?;
    Ok(created(format!("/api/v1/aliases/{}", view.id), view))
}

/// Alias details
#[utoipa::path(get, path = "/aliases/{id}", tag = "aliases", operation_id = "get_alias",
    params(("id" = i64, Path, description = "The alias's id")),
    responses((status = 200, description = "The alias", body = AliasView)))]
async fn get_alias(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Alias")?;
    Ok(Json(app.get_alias(id).await?))
}

/// Edit an alias
///
/// Absent fields are kept and `null` clears a nullable one; `{}` changes no field but is still
/// an edit (`updated_at`, `updated_by` and an audit entry).
#[utoipa::path(patch, path = "/aliases/{id}", tag = "aliases", operation_id = "update_alias",
    params(("id" = i64, Path, description = "The alias's id")),
    request_body = RawAlias,
    responses(
        (status = 200, description = "The alias after the change", body = AliasView),
        (status = 409, description = "The address is another alias's, or the credential has a default alias already", body = ErrorBody),
    ))]
async fn update_alias(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawAlias>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Alias")?;
    Ok(Json(app.update_alias(&who.actor, id, &raw).await?))
}

/// Delete an alias
#[utoipa::path(delete, path = "/aliases/{id}", tag = "aliases", operation_id = "delete_alias",
    params(("id" = i64, Path, description = "The alias's id")),
    responses((status = 204, description = "Deleted")))]
async fn delete_alias(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Alias")?;
    app.delete_alias(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

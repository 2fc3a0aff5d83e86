//! The JSON API handlers under `/api/v1` for credentials and the audit log, and `routes()`,
//! which gathers every API area. Each handler parses, calls one `app` function, and answers;
//! its `#[utoipa::path]` is what the OpenAPI document says of it, and `routes!` registers the
//! handler at that very path, so the document and the router cannot disagree.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, path_id, query_number};
use crate::app::{CredentialView, Principal};
use crate::domain::{RawCredential, Secret};

/// A list answer: `{"items": […]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

impl<T> Items<T> {
    pub fn of(items: Vec<T>) -> Json<Self> {
        Json(Self { items })
    }
}

/// 201 Created with the new record's address in `Location`.
pub fn created(location: String, body: impl Serialize) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new()
        .routes(routes!(super::openapi::document))
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(
            get_credential,
            update_credential,
            delete_credential
        ))
        .routes(routes!(change_password))
        .routes(routes!(list_audit))
        .merge(super::api_connection::routes())
        .merge(super::api_aliases::routes())
        .merge(super::api_reference::routes())
        .merge(super::api_routing::routes())
        .merge(super::api_exceptions::routes())
        .merge(super::api_processing::routes())
        .merge(super::api_providers::routes())
        .merge(super::api_oauth::routes())
}

/// List credentials
#[utoipa::path(get, path = "/credentials", tag = "credentials", operation_id = "list_credentials",
    responses((status = 200, description = "Every credential", body = Items<CredentialView>)))]
async fn list_credentials(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Items::of(app.list_credentials().await?))
}

/// Add a credential
#[utoipa::path(post, path = "/credentials", tag = "credentials", operation_id = "create_credential",
    request_body = ref("#/components/schemas/CredentialInput"),
    responses(
        (status = 201, description = "Created", body = CredentialView,
            headers(("Location" = String, description = "The new credential: /api/v1/credentials/{id}"))),
        (status = 409, description = "The mailbox or configuration name is taken", body = ErrorBody),
    ))]
async fn create_credential(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawCredential>,
) -> Result<Response, ApiError> {
    let view = app.create_credential(&who.actor, &raw).await?;
    Ok(created(format!("/api/v1/credentials/{}", view.id), view))
}

/// Credential details
#[utoipa::path(get, path = "/credentials/{id}", tag = "credentials", operation_id = "get_credential",
    params(("id" = i64, Path, description = "The credential's id")),
    responses((status = 200, description = "The credential", body = CredentialView)))]
async fn get_credential(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    Ok(Json(app.get_credential(id).await?))
}

/// Edit a credential
///
/// Absent fields are kept; `{}` changes no field but is still an edit (`updated_at`,
/// `updated_by` and an audit entry). The password is needed again (422 `password_required`) when host, port, security, login name or
/// trust change.
#[utoipa::path(patch, path = "/credentials/{id}", tag = "credentials", operation_id = "update_credential",
    params(("id" = i64, Path, description = "The credential's id")),
    request_body = RawCredential,
    responses(
        (status = 200, description = "The credential after the change", body = CredentialView),
        (status = 409, description = "The mailbox or configuration name is taken", body = ErrorBody),
    ))]
async fn update_credential(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawCredential>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    Ok(Json(app.update_credential(&who.actor, id, raw).await?))
}

/// Delete a credential
#[utoipa::path(delete, path = "/credentials/{id}", tag = "credentials", operation_id = "delete_credential",
    params(("id" = i64, Path, description = "The credential's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Aliases still belong to the credential: delete or move them first", body = ErrorBody),
    ))]
async fn delete_credential(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    app.delete_credential(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change Password: the new password twice.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordChange)]
struct PasswordBody {
    #[schema(value_type = String, format = Password, write_only)]
    new_password: Option<Secret>,
    #[schema(value_type = String, format = Password, write_only)]
    confirm_password: Option<Secret>,
}

/// Change Password
#[utoipa::path(post, path = "/credentials/{id}/password", tag = "credentials",
    operation_id = "change_password",
    params(("id" = i64, Path, description = "The credential's id")),
    request_body = PasswordBody,
    responses((status = 200, description = "The credential", body = CredentialView)))]
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

/// One audit-log entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// `token:NAME#ID`, `user:NAME` or `cli:OSUSER`.
    pub actor: String,
    /// `credential.create`, `credential.password_change`, `token.revoke`…
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub summary: String,
    /// Changed field names and non-secret values.
    pub details: serde_json::Value,
}

/// The audit log, newest first
#[utoipa::path(get, path = "/audit", tag = "audit", operation_id = "list_audit",
    params(
        ("limit" = Option<i64>, Query, description = "How many entries (1–1000, default 100; other values are brought into that range)"),
        ("before" = Option<i64>, Query, description = "Only entries with an id below this one (the next page)"),
    ),
    responses((status = 200, description = "Entries, newest first", body = Items<AuditView>)))]
async fn list_audit(
    State(app): State<SharedApp>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = query_number(&q, "limit")?.unwrap_or(100);
    let before = query_number(&q, "before")?;
    let items = app.list_audit(limit, before).await?;
    Ok(Items::of(
        items
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: crate::app::iso_time(r.at),
                actor: r.actor,
                action: r.action,
                target_type: r.target_type,
                target_id: r.target_id,
                summary: r.summary,
                details: r.details,
            })
            .collect(),
    ))
}

//! JSON API for aliases, reference data (workspaces, project types, clients, contacts, with
//! bulk import), the routing dry run and the exception log. Each handler parses, calls one
//! `app` function and answers; no rules live here.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use super::SharedApp;
use super::error::ApiError;
use super::extract::{JsonBody, path_id, query_number};
use crate::app::{ImportError, ImportItem, ImportReport, Principal, RouteRequest};
use crate::domain::{RawAlias, RawClient, RawContact, RawNamed};
use crate::store::NamedKind;

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
        .route("/routing/resolve", post(resolve))
        .route("/exceptions", get(list_exceptions))
        .merge(named_routes(NamedKind::Workspace, "/workspaces"))
        .merge(named_routes(NamedKind::ProjectType, "/project-types"))
        .route("/clients", get(list_clients).post(create_client))
        .route("/clients/import", post(import_clients))
        .route(
            "/clients/{id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route("/contacts", get(list_contacts).post(create_contact))
        .route("/contacts/import", post(import_contacts))
        .route(
            "/contacts/{id}",
            get(get_contact)
                .patch(update_contact)
                .delete(delete_contact),
        )
}

/// 201 with the report, or 422 listing every bad row (nothing imported).
fn import_response(result: Result<ImportReport, ImportError>) -> Response {
    match result {
        Ok(report) => (StatusCode::CREATED, Json(report)).into_response(),
        Err(ImportError::Rejected(rows)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": {
                "code": "import_rejected",
                "message": ImportError::summary(&rows),
                "field": rows.first().map(|r| r.field.clone()),
                "rows": rows,
            }})),
        )
            .into_response(),
        Err(ImportError::App(e)) => ApiError::from(e).into_response(),
    }
}

fn items(values: Vec<serde_json::Value>) -> Vec<ImportItem> {
    values
        .into_iter()
        .map(|value| ImportItem {
            value,
            ..ImportItem::default()
        })
        .collect()
}

// ---- aliases ----

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

// ---- routing dry run, exceptions ----

async fn resolve(
    State(app): State<SharedApp>,
    JsonBody(req): JsonBody<RouteRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.resolve_route(&req).await?))
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

// ---- workspaces and project types ----

fn named_routes(kind: NamedKind, base: &str) -> Router<SharedApp> {
    let what = match kind {
        NamedKind::Workspace => "Workspace",
        NamedKind::ProjectType => "Project type",
    };
    Router::new()
        .route(
            base,
            get(move |State(app): State<SharedApp>| async move {
                Ok::<_, ApiError>(Json(json!({ "items": app.list_named(kind).await? })))
            })
            .post(
                move |State(app): State<SharedApp>,
                      Extension(who): Extension<Principal>,
                      JsonBody(raw): JsonBody<RawNamed>| async move {
                    let view = app.create_named(&who.actor, kind, &raw).await?;
                    Ok::<_, ApiError>((StatusCode::CREATED, Json(view)))
                },
            ),
        )
        .route(
            &format!("{base}/import"),
            post(
                move |State(app): State<SharedApp>,
                      Extension(who): Extension<Principal>,
                      JsonBody(values): JsonBody<Vec<serde_json::Value>>| async move {
                    import_response(
                        app.import_named(&who.actor, kind, &items(values), |_, _| {})
                            .await,
                    )
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(
                move |State(app): State<SharedApp>, Path(id): Path<String>| async move {
                    let id = path_id(&id, what)?;
                    Ok::<_, ApiError>(Json(app.get_named(kind, id).await?))
                },
            )
            .patch(
                move |State(app): State<SharedApp>,
                      Extension(who): Extension<Principal>,
                      Path(id): Path<String>,
                      JsonBody(raw): JsonBody<RawNamed>| async move {
                    let id = path_id(&id, what)?;
                    Ok::<_, ApiError>(Json(app.update_named(&who.actor, kind, id, &raw).await?))
                },
            )
            .delete(
                move |State(app): State<SharedApp>,
                      Extension(who): Extension<Principal>,
                      Path(id): Path<String>| async move {
                    let id = path_id(&id, what)?;
                    app.delete_named(&who.actor, kind, id).await?;
                    Ok::<_, ApiError>(StatusCode::NO_CONTENT)
                },
            ),
        )
}

// ---- clients ----

async fn list_clients(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({ "items": app.list_clients().await? })))
}

async fn create_client(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawClient>,
) -> Result<impl IntoResponse, ApiError> {
    let view = app.create_client(&who.actor, &raw).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn import_clients(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(values): JsonBody<Vec<serde_json::Value>>,
) -> Response {
    import_response(
        app.import_clients(&who.actor, &items(values), |_, _| {})
            .await,
    )
}

async fn get_client(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Client")?;
    Ok(Json(app.get_client(id).await?))
}

async fn update_client(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawClient>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Client")?;
    Ok(Json(app.update_client(&who.actor, id, &raw).await?))
}

async fn delete_client(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Client")?;
    app.delete_client(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- contacts ----

async fn list_contacts(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({ "items": app.list_contacts().await? })))
}

async fn create_contact(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawContact>,
) -> Result<impl IntoResponse, ApiError> {
    let view = app.create_contact(&who.actor, &raw).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn import_contacts(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(values): JsonBody<Vec<serde_json::Value>>,
) -> Response {
    import_response(
        app.import_contacts(&who.actor, &items(values), |_, _| {})
            .await,
    )
}

async fn get_contact(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Contact")?;
    Ok(Json(app.get_contact(id).await?))
}

async fn update_contact(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawContact>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Contact")?;
    Ok(Json(app.update_contact(&who.actor, id, &raw).await?))
}

async fn delete_contact(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Contact")?;
    app.delete_contact(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

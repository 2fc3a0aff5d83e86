//! JSON API for reference data: for every kind of record (`domain::visit_records`) the same six
//! routes under `/{path}`: list, add, import (all or nothing), details, edit (absent fields
//! kept, null clears), delete. Each handler parses, calls one `app` function and answers; no
//! rules live here. Their OpenAPI operations come from the record's `Spec`
//! (`openapi::record_paths`) and are registered with the handlers, like every other route.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::SharedApp;
use super::api::{Items, created};
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, path_id};
use super::openapi::record_paths;
use crate::app::{ImportError, ImportItem, ImportReport, Principal};
use crate::domain::{Record, Visit, visit_records};

pub fn routes() -> OpenApiRouter<SharedApp> {
    struct Routes(OpenApiRouter<SharedApp>);
    impl Visit for Routes {
        fn record<R: Record>(&mut self) {
            let [collection, import_path, one] = record_paths(R::SPEC);
            self.0 = std::mem::take(&mut self.0)
                .routes((
                    answer_schemas(),
                    collection,
                    get(list::<R>).post(create::<R>),
                ))
                .routes((vec![], import_path, post(import::<R>)))
                .routes((
                    vec![],
                    one,
                    get(show::<R>).patch(update::<R>).delete(delete::<R>),
                ));
        }
    }
    let mut routes = Routes(OpenApiRouter::new());
    visit_records(&mut routes);
    routes.0
}

/// The named schemas the record operations answer with (the records' own are added by
/// `openapi::finish`, from their `Spec`).
fn answer_schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut schemas = vec![
        (ImportReport::name().into(), ImportReport::schema()),
        (ErrorBody::name().into(), ErrorBody::schema()),
    ];
    ImportReport::schemas(&mut schemas);
    ErrorBody::schemas(&mut schemas);
    schemas
}

fn id_of<R: Record>(raw: &str) -> Result<i64, ApiError> {
    path_id(raw, &R::SPEC.title())
}

async fn list<R: Record>(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Items::of(app.list_records(R::SPEC).await?))
}

async fn create<R: Record>(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<R::Raw>,
) -> Result<Response, ApiError> {
    let view = app.create_record::<R>(&who.actor, &raw).await?;
    let location = format!("/api/v1/{}/{}", R::SPEC.path, view.0.id);
    Ok(created(location, view))
}

/// 201 with the report, or 422 listing every bad row (nothing imported).
async fn import<R: Record>(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(values): JsonBody<Vec<serde_json::Value>>,
) -> Result<impl IntoResponse, ApiError> {
    let items: Vec<ImportItem> = values
        .into_iter()
        .map(|value| ImportItem {
            value,
            ..ImportItem::default()
        })
        .collect();
    match app.import_records::<R>(&who.actor, &items, |_, _| {}).await {
        Ok(report) => Ok((StatusCode::CREATED, Json(report))),
        Err(ImportError::Rejected(rows)) => Err(ApiError::import_rejected(rows)),
        Err(ImportError::App(e)) => Err(e.into()),
    }
}

async fn show<R: Record>(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(app.get_record(R::SPEC, id_of::<R>(&id)?).await?))
}

async fn update<R: Record>(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<R::Raw>,
) -> Result<impl IntoResponse, ApiError> {
    let id = id_of::<R>(&id)?;
    Ok(Json(app.update_record::<R>(&who.actor, id, &raw).await?))
}

async fn delete<R: Record>(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = id_of::<R>(&id)?;
    app.delete_record(R::SPEC, &who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! JSON API for reference data: for every kind of record (`domain::visit_records`) the same six
//! routes under `/{path}`: list, add, import (all or nothing), details, edit (absent fields
//! kept, null clears), delete. Each handler parses, calls one `app` function and answers; no
//! rules live here.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use super::SharedApp;
use super::error::ApiError;
use super::extract::{JsonBody, path_id};
use crate::app::{ImportError, ImportItem, Principal};
use crate::domain::{Record, Visit, visit_records};

pub fn routes() -> Router<SharedApp> {
    struct Routes(Router<SharedApp>);
    impl Visit for Routes {
        fn record<R: Record>(&mut self) {
            let base = format!("/{}", R::SPEC.path);
            self.0 = std::mem::take(&mut self.0)
                .route(&base, get(list::<R>).post(create::<R>))
                .route(&format!("{base}/import"), post(import::<R>))
                .route(
                    &format!("{base}/{{id}}"),
                    get(show::<R>).patch(update::<R>).delete(delete::<R>),
                );
        }
    }
    let mut routes = Routes(Router::new());
    visit_records(&mut routes);
    routes.0
}

fn id_of<R: Record>(raw: &str) -> Result<i64, ApiError> {
    path_id(raw, &R::SPEC.title())
}

async fn list<R: Record>(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({ "items": app.list_records(R::SPEC).await? })))
}

async fn create<R: Record>(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<R::Raw>,
) -> Result<impl IntoResponse, ApiError> {
    let view = app.create_record::<R>(&who.actor, &raw).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// 201 with the report, or 422 listing every bad row (nothing imported).
async fn import<R: Record>(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(values): JsonBody<Vec<serde_json::Value>>,
) -> Response {
    let items: Vec<ImportItem> = values
        .into_iter()
        .map(|value| ImportItem {
            value,
            ..ImportItem::default()
        })
        .collect();
    match app.import_records::<R>(&who.actor, &items, |_, _| {}).await {
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

//! Provider detection for the credential form's script: `GET /admin/providers/detect?mailbox=…`
//! answers the API's JSON (`app::detect_provider`) behind the admin session, so the form can
//! fill host, port and security. The form works without it (and without JavaScript).
//!
//! Owns only this route. Must not decide anything: the guess is `app::providers`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::session::Admin;
use crate::web::{ApiError, SharedApp};

/// Where the credential form's script asks (the `data-detect` of its mailbox field).
pub const DETECT_PATH: &str = "/admin/providers/detect";

pub fn routes() -> super::Routes {
    super::Routes::default().route(DETECT_PATH, get(detect))
}

async fn detect(
    State(app): State<SharedApp>,
    _admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match app
        .detect_provider(q.get("mailbox").map(String::as_str))
        .await
    {
        Ok(view) => axum::Json(view).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

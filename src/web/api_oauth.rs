//! OAuth2 over HTTP: the OAuth apps API (`/api/v1/oauth-apps`), starting a sign-in
//! (`POST /api/v1/credentials/{id}/oauth/authorize` → `{authorization_url}`) and the
//! provider's redirect back (`GET /admin/oauth/callback?code=&state=`), which finishes it and
//! returns to the credential's page with a flash. Thin over `app`; never echoes a code or token.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use super::SharedApp;
use super::admin::Admin;
use super::error::ApiError;
use super::extract::{JsonBody, path_id};
use crate::app::{App, Principal};
use crate::domain::{RawOAuthApp, Secret};

/// Where providers send the browser back (below `MAILROOM_PUBLIC_URL`, else the request's host).
pub const CALLBACK_PATH: &str = "/admin/oauth/callback";

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/oauth-apps", get(list).post(create))
        .route("/oauth-apps/{id}", get(show).patch(update).delete(remove))
        .route("/credentials/{id}/oauth/authorize", post(authorize))
}

/// The callback route (outside the token-checked API).
pub fn callback_routes() -> Router<SharedApp> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

/// The redirect URI to register at the provider: the public URL's origin when set, else the
/// scheme and Host of this request.
pub fn redirect_uri(app: &App, peer: SocketAddr, headers: &HeaderMap) -> String {
    let web = app.settings().web();
    if let Some(public) = &web.public_url {
        return format!("{}{CALLBACK_PATH}", public.origin);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if super::edge::is_https(peer.ip(), headers, web) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}{CALLBACK_PATH}")
}

/// What binds a sign-in to an admin session (the session's CSRF token, hashed).
pub fn session_binding(admin: &Admin) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(admin.session.csrf_token.as_bytes());
    format!("session:{}", hex::encode(h))
}

async fn list(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({ "items": app.list_oauth_apps().await? })))
}

async fn create(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawOAuthApp>,
) -> Result<impl IntoResponse, ApiError> {
    let view = app.create_oauth_app(&who.actor, &raw).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn show(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "OAuth app")?;
    Ok(Json(app.get_oauth_app(id).await?))
}

async fn update(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawOAuthApp>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "OAuth app")?;
    Ok(Json(app.update_oauth_app(&who.actor, id, &raw).await?))
}

async fn remove(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "OAuth app")?;
    app.delete_oauth_app(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn authorize(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "Credential")?;
    let uri = redirect_uri(&app, peer, &headers);
    let binding = format!("principal:{}", who.actor);
    Ok(Json(app.start_sign_in(id, &binding, &uri).await?))
}

async fn callback(
    State(app): State<SharedApp>,
    admin: Result<Admin, Response>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let admin = admin.ok();
    let binding = admin.as_ref().map(session_binding);
    let actor = admin
        .as_ref()
        .map_or("oauth-callback".to_string(), |a| a.session.actor.clone());
    let state = q.get("state").cloned().unwrap_or_default();
    let page = |text: String| {
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response()
    };
    if let Some(err) = q.get("error") {
        let what: String = q
            .get("error_description")
            .unwrap_or(err)
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        app.cancel_sign_in(&state).await;
        return page(format!("The provider did not sign in: {what}"));
    }
    let code = Secret::new(q.get("code").cloned().unwrap_or_default());
    match app
        .finish_sign_in(&actor, binding.as_deref(), &state, code)
        .await
    {
        Ok(id) => {
            Redirect::to(&format!("/admin/email-integration/{id}?flash=signed-in")).into_response()
        }
        Err(e) => page(format!("{e}")),
    }
}

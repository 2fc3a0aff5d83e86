//! OAuth2 over HTTP: the OAuth apps API (`/api/v1/oauth-apps`), starting a sign-in
//! (`POST /api/v1/credentials/{id}/oauth/authorize` → `{authorization_url}`) and the
//! provider's redirect back (`GET /admin/oauth/callback?code=&state=`), which finishes it and
//! returns to the credential's page with a flash. Thin over `app`; never echoes a code or token.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::admin::Admin;
use super::api::{Items, created};
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, path_id};
use crate::app::{App, OAuthAppView, Principal, SignInStart};
use crate::domain::{RawOAuthApp, Secret};

/// Where providers send the browser back (below `MAILROOM_PUBLIC_URL`, else the request's host).
pub const CALLBACK_PATH: &str = "/admin/oauth/callback";

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(authorize))
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

/// List OAuth apps
#[utoipa::path(get, path = "/oauth-apps", tag = "oauth", operation_id = "list_oauth_apps",
    responses((status = 200, description = "Every OAuth app (never a client secret)", body = Items<OAuthAppView>)))]
async fn list(State(app): State<SharedApp>) -> Result<impl IntoResponse, ApiError> {
    Ok(Items::of(app.list_oauth_apps().await?))
}

/// Add an OAuth app
///
/// Presets fill endpoints and scopes for `microsoft` and `google`.
#[utoipa::path(post, path = "/oauth-apps", tag = "oauth", operation_id = "create_oauth_app",
    request_body = ref("#/components/schemas/OAuthAppInput"),
    responses(
        (status = 201, description = "Created", body = OAuthAppView,
            headers(("Location" = String, description = "The new OAuth app: /api/v1/oauth-apps/{id}"))),
        (status = 409, description = "The name is taken", body = ErrorBody),
    ))]
async fn create(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawOAuthApp>,
) -> Result<Response, ApiError> {
    let view = app.create_oauth_app(&who.actor, &raw).await?;
    Ok(created(format!("/api/v1/oauth-apps/{}", view.id), view))
}

/// OAuth app details
#[utoipa::path(get, path = "/oauth-apps/{id}", tag = "oauth", operation_id = "get_oauth_app",
    params(("id" = i64, Path, description = "The OAuth app's id")),
    responses((status = 200, description = "The OAuth app", body = OAuthAppView)))]
async fn show(
    State(app): State<SharedApp>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "OAuth app")?;
    Ok(Json(app.get_oauth_app(id).await?))
}

/// Edit an OAuth app
///
/// Absent fields are kept; `{}` changes no field but is still an edit (`updated_at`,
/// `updated_by` and an audit entry). A change of provider, client, tenant, token URL
/// or flow signs its credentials out.
#[utoipa::path(patch, path = "/oauth-apps/{id}", tag = "oauth", operation_id = "update_oauth_app",
    params(("id" = i64, Path, description = "The OAuth app's id")),
    request_body = RawOAuthApp,
    responses(
        (status = 200, description = "The OAuth app after the change", body = OAuthAppView),
        (status = 409, description = "The name is taken", body = ErrorBody),
    ))]
async fn update(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(raw): JsonBody<RawOAuthApp>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "OAuth app")?;
    Ok(Json(app.update_oauth_app(&who.actor, id, &raw).await?))
}

/// Delete an unused OAuth app
#[utoipa::path(delete, path = "/oauth-apps/{id}", tag = "oauth", operation_id = "delete_oauth_app",
    params(("id" = i64, Path, description = "The OAuth app's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Credentials still sign in through it", body = ErrorBody),
    ))]
async fn remove(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path_id(&id, "OAuth app")?;
    app.delete_oauth_app(&who.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start Sign in for an oauth2 credential
///
/// Answers the provider URL to open; the provider sends the browser back to
/// `/admin/oauth/callback`, which finishes the sign-in.
#[utoipa::path(post, path = "/credentials/{id}/oauth/authorize", tag = "oauth",
    operation_id = "start_oauth_sign_in",
    params(("id" = i64, Path, description = "The credential's id")),
    responses(
        (status = 200, description = "Where to send the person who signs in", body = SignInStart),
        (status = 422, description = "Not an oauth2 credential whose app uses the authorization_code flow", body = ErrorBody),
    ))]
async fn authorize(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SignInStart>, ApiError> {
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

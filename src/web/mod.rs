//! The HTTP edge: the JSON API under `/api/v1`, the admin pages under `/admin`, and
//! `/healthz`, `/readyz`, `/metrics`.
//!
//! Owns routing, authentication of requests, and turning `app` results into HTTP. Must not hold
//! business rules or SQL: every handler is a thin call into `app`.

mod admin;
mod api;
mod api_aliases;
mod api_connection;
mod api_exceptions;
mod api_oauth;
mod api_processing;
mod api_providers;
mod api_reference;
mod api_routing;
mod auth;
mod edge;
mod error;
mod extract;
mod openapi;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::App;
pub use admin::{MAX_PER_ACCOUNT, MAX_PER_CLIENT, paths as admin_paths};
pub use error::ApiError;
pub use openapi::{api_routes, openapi_value};

/// The largest request body accepted.
pub(crate) const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub type SharedApp = Arc<App>;

/// The whole HTTP application.
pub fn router(app: SharedApp) -> Router {
    let api = Router::from(api::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ))
        .fallback(|| async { ApiError::not_found("Route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This method is not allowed on this route.",
            )
        });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(app): State<SharedApp>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    app.metrics().render(),
                )
            }),
        )
        .nest("/api/v1", api)
        .merge(admin::routes(app.clone()))
        .merge(api_oauth::callback_routes())
        .fallback(|| async { ApiError::not_found("Page") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error; the server log has the details.",
            )
            .into_response()
        }))
        .with_state(app)
}

/// Bytes as a download, never shown inline (the content is a sender's; every answer carries
/// `nosniff`); the file name keeps only letters, digits and `.-_ `. For the API and the pages.
pub(crate) fn download(content_type: &str, name: &str, bytes: Vec<u8>) -> Response {
    let name: String = name
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
            true => c,
            false => '_',
        })
        .collect();
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

async fn readyz(State(app): State<SharedApp>) -> impl IntoResponse {
    match app.store().ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "reason": "database unreachable"})),
            )
        }
    }
}

/// A bound listener and the address it got (port 0 picks a free port).
pub async fn bind(listen: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: SharedApp,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

//! The admin web UI under `/admin` (System Admin > Email Integration): server-rendered askama
//! pages over the same `app` functions as the API, signed in with an administrator session.
//!
//! Owns page routes, sessions, CSRF and security headers for pages. Must not hold business rules.

mod login_throttle;
mod pages_aliases;
mod pages_audit;
mod pages_common;
mod pages_credentials;
mod pages_oauth_apps;
mod pages_processing;
mod pages_providers;
mod pages_reference;
mod pages_sign_in;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{MethodRouter, get, post};
use tower_http::set_header::SetResponseHeaderLayer;

use super::SharedApp;
pub use login_throttle::{LoginThrottle, MAX_PER_ACCOUNT, MAX_PER_CLIENT};
pub(crate) use session::Admin;

/// The admin routes with their paths remembered, so a test can walk every one (`paths`).
#[derive(Default)]
pub struct Routes {
    router: Router<SharedApp>,
    paths: Vec<String>,
}

impl Routes {
    pub fn route(mut self, path: &str, method: MethodRouter<SharedApp>) -> Self {
        self.paths.push(path.to_string());
        self.router = self.router.route(path, method);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.paths.extend(other.paths);
        self.router = self.router.merge(other.router);
        self
    }
}

/// The path of every admin route (with `{id}` placeholders), for tests that walk them all.
pub fn paths() -> Vec<String> {
    all_routes().paths
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Every admin route, with its path remembered.
fn all_routes() -> Routes {
    Routes::default()
        .route(
            "/admin",
            get(|| async { Redirect::to("/admin/email-integration") }),
        )
        .route(
            "/admin/",
            get(|| async { Redirect::to("/admin/email-integration") }),
        )
        .route(
            session::LOGIN_PATH,
            get(pages_sign_in::login_page).post(pages_sign_in::login_submit),
        )
        .route("/admin/logout", post(pages_sign_in::logout))
        .route(
            "/admin/email-integration",
            get(pages_credentials::dashboard),
        )
        .route(
            "/admin/email-integration/new",
            get(pages_credentials::new_form).post(pages_credentials::new_submit),
        )
        .route(
            "/admin/email-integration/{id}",
            get(pages_credentials::details).post(pages_credentials::details_submit),
        )
        .route(
            "/admin/email-integration/{id}/password",
            post(pages_credentials::change_password),
        )
        .route(
            "/admin/email-integration/connection-test",
            post(pages_credentials::test_new),
        )
        .route(
            "/admin/email-integration/{id}/connection-test",
            post(pages_credentials::test_saved),
        )
        .route(
            "/admin/email-integration/{id}/delete",
            get(pages_credentials::delete_page).post(pages_credentials::delete_submit),
        )
        .route("/admin/audit", get(pages_audit::audit))
        .merge(pages_aliases::routes())
        .merge(pages_reference::routes())
        .merge(pages_processing::routes())
        .merge(pages_providers::routes())
        .merge(pages_oauth_apps::routes())
        .route(
            "/admin/static/app.css",
            asset(
                "text/css; charset=utf-8",
                include_str!("../../../assets/app.css"),
            ),
        )
        .route(
            "/admin/static/app.js",
            asset(
                "text/javascript; charset=utf-8",
                include_str!("../../../assets/app.js"),
            ),
        )
        .route(
            "/admin/static/favicon.svg",
            asset("image/svg+xml", include_str!("../../../assets/favicon.svg")),
        )
}

/// A file built into the binary, served with its content type.
fn asset(content_type: &'static str, body: &'static str) -> axum::routing::MethodRouter<SharedApp> {
    get(move || async move { ([(header::CONTENT_TYPE, content_type)], body).into_response() })
}

/// The admin pages under `/admin`, behind the same-site rule and the CSRF check of every POST.
pub fn routes(app: SharedApp) -> Router<SharedApp> {
    all_routes()
        .router
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            session::csrf_on_every_post,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app,
            session::same_site_requests,
        ))
        .layer(axum::Extension(Arc::new(LoginThrottle::default())))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
}

/// The aliases section of a credential's page: its aliases with New / Edit / Delete and the
/// routing dry run form (rendered by `pages_aliases`; the admin is already signed in).
async fn aliases_section(app: &SharedApp, _admin: &session::Admin, credential_id: i64) -> String {
    pages_aliases::section(app, credential_id).await
}

/// The OAuth apps a credential form picks from (empty when they cannot be read: the form
/// still works for passwords).
async fn oauth_apps(app: &SharedApp) -> Vec<crate::app::OAuthAppView> {
    app.list_oauth_apps().await.unwrap_or_default()
}

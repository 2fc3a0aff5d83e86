//! The OAuth apps pages (System Admin > OAuth apps): the list with the redirect URI to register
//! and each provider's checklist, the New / Edit form (the client secret is a write-only
//! password field, shown as "set" / "not set"), Delete with confirmation, and the credential's
//! "Sign in with …" / "Reconnect" post, which starts the authorization-code flow bound to the
//! admin's session and redirects to the provider.
//!
//! Owns the translation between HTML forms and `RawOAuthApp`. Must not hold business rules
//! (presets, validation, sealing): those are `app::create_oauth_app` and friends.

use std::collections::HashMap;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::pages_common::{
    ErrorPage, FieldErrors, Frame, OrPage, Page, flash_text, path_id, render,
};
use super::session::Admin;
use crate::app::{AppError, CredentialView, OAuthAppView, oauth_app_checklist};
use crate::domain::{Flow, Provider, RawOAuthApp, Secret};
use crate::web::SharedApp;
use crate::web::api_oauth;

const LIST: &str = "/admin/oauth-apps";

/// The OAuth app id of a path, or the not-found page.
fn app_id(admin: &Admin, raw: &str) -> Result<i64, ErrorPage> {
    path_id(admin, raw, "OAuth app", LIST)
}

/// Where a saved OAuth app leads: its page, saying so.
fn saved(id: i64) -> Response {
    Redirect::to(&format!("/admin/oauth-apps/{id}?flash=app-saved")).into_response()
}

pub fn routes() -> super::Routes {
    super::Routes::default()
        .route(LIST, get(list))
        .route("/admin/oauth-apps/new", get(new_form).post(new_submit))
        .route("/admin/oauth-apps/{id}", get(edit_form).post(edit_submit))
        .route(
            "/admin/oauth-apps/{id}/delete",
            get(delete_page).post(delete_submit),
        )
        .route("/admin/email-integration/{id}/oauth/sign-in", post(sign_in))
}

/// One provider's checklist, titled.
pub struct Checklist {
    title: String,
    steps: Vec<String>,
}

fn parse_kind(app: &OAuthAppView) -> (Provider, Flow) {
    (
        Provider::parse(app.provider).unwrap_or(Provider::Custom),
        Flow::parse(app.flow).unwrap_or(Flow::AuthorizationCode),
    )
}

fn all_checklists(redirect_uri: &str) -> Vec<Checklist> {
    [
        (
            Provider::Microsoft,
            Flow::AuthorizationCode,
            "Microsoft 365, a person signs in (delegated)",
        ),
        (
            Provider::Microsoft,
            Flow::ClientCredentials,
            "Microsoft 365, app-only (client credentials)",
        ),
        (
            Provider::Google,
            Flow::AuthorizationCode,
            "Google Workspace / Gmail",
        ),
        (
            Provider::Custom,
            Flow::AuthorizationCode,
            "Another provider, a person signs in",
        ),
        (
            Provider::Custom,
            Flow::ClientCredentials,
            "Another provider, app-only",
        ),
    ]
    .into_iter()
    .map(|(p, f, title)| Checklist {
        title: title.to_string(),
        steps: oauth_app_checklist(p, f, redirect_uri),
    })
    .collect()
}

// ---------------------------------------------------------------- list

#[derive(Template)]
#[template(path = "admin/oauth_apps.html")]
struct ListPage {
    frame: Frame,
    items: Vec<OAuthAppView>,
    redirect_uri: String,
    checklists: Vec<Checklist>,
}

pub async fn list(
    State(app): State<SharedApp>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Page {
    let items = app.list_oauth_apps().await.or_page(&admin, "/admin")?;
    let redirect_uri = api_oauth::redirect_uri(&app, peer, &headers);
    let f = Frame::of(&admin);
    let flash = match q.get("flash").map(String::as_str) {
        Some("app-saved") => Some("OAuth app saved.".to_string()),
        Some("app-deleted") => Some("OAuth app deleted.".to_string()),
        _ => flash_text(&q),
    };
    Ok(render(
        StatusCode::OK,
        &ListPage {
            frame: Frame { flash, ..f },
            items,
            checklists: all_checklists(&redirect_uri),
            redirect_uri,
        },
    ))
}

// ---------------------------------------------------------------- form

/// The values the form shows (never the client secret).
#[derive(Debug, Clone, Default)]
pub struct AppValues {
    name: String,
    provider: String,
    flow: String,
    client_id: String,
    tenant: String,
    authorize_url: String,
    token_url: String,
    scopes: String,
}

impl AppValues {
    fn defaults() -> Self {
        Self {
            provider: "microsoft".into(),
            flow: "authorization_code".into(),
            ..Self::default()
        }
    }

    /// A saved app: preset endpoints are left empty (they follow the provider and tenant);
    /// a custom provider's endpoints are shown to edit.
    fn from_view(a: &OAuthAppView) -> Self {
        let custom = a.provider == "custom";
        let shown = |v: &Option<String>| {
            if custom {
                v.clone().unwrap_or_default()
            } else {
                String::new()
            }
        };
        Self {
            name: a.name.clone(),
            provider: a.provider.into(),
            flow: a.flow.into(),
            client_id: a.client_id.clone(),
            tenant: a.tenant.clone().unwrap_or_default(),
            authorize_url: shown(&a.authorize_url),
            token_url: shown(&Some(a.token_url.clone())),
            scopes: a.scopes.clone(),
        }
    }
}

/// A posted OAuth app form.
#[derive(Deserialize, Default)]
pub struct AppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    client_id: String,
    client_secret: Option<Secret>,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    authorize_url: String,
    #[serde(default)]
    token_url: String,
    #[serde(default)]
    scopes: String,
}

impl AppForm {
    fn values(&self) -> AppValues {
        AppValues {
            name: self.name.clone(),
            provider: self.provider.clone(),
            flow: self.flow.clone(),
            client_id: self.client_id.clone(),
            tenant: self.tenant.clone(),
            authorize_url: self.authorize_url.clone(),
            token_url: self.token_url.clone(),
            scopes: self.scopes.clone(),
        }
    }

    /// Empty fields are absent: presets fill them (and an edit keeps a custom app's values).
    fn to_raw(&self) -> RawOAuthApp {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        RawOAuthApp {
            name: Some(self.name.clone()),
            provider: Some(self.provider.clone()),
            flow: Some(self.flow.clone()),
            client_id: Some(self.client_id.clone()),
            client_secret: self
                .client_secret
                .clone()
                .filter(|s| !s.expose().is_empty()),
            tenant: opt(&self.tenant),
            authorize_url: opt(&self.authorize_url),
            token_url: opt(&self.token_url),
            scopes: opt(&self.scopes),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/oauth_app_form.html")]
struct FormPage {
    frame: Frame,
    saved: Option<OAuthAppView>,
    v: AppValues,
    errors: FieldErrors,
    redirect_uri: String,
    checklist: Vec<String>,
}

impl FormPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }

    fn action(&self) -> String {
        match &self.saved {
            Some(a) => format!("/admin/oauth-apps/{}", a.id),
            None => "/admin/oauth-apps/new".to_string(),
        }
    }

    fn new(admin: &Admin, saved: Option<OAuthAppView>, v: AppValues, redirect_uri: String) -> Self {
        let checklist = saved.as_ref().map_or_else(Vec::new, |a| {
            let (p, f) = parse_kind(a);
            oauth_app_checklist(p, f, &redirect_uri)
        });
        let f = Frame::of(admin);
        Self {
            frame: f,
            saved,
            v,
            errors: FieldErrors::default(),
            redirect_uri,
            checklist,
        }
    }
}

pub async fn new_form(
    State(app): State<SharedApp>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let uri = api_oauth::redirect_uri(&app, peer, &headers);
    render(
        StatusCode::OK,
        &FormPage::new(&admin, None, AppValues::defaults(), uri),
    )
}

pub async fn new_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AppForm>,
) -> Page {
    let e = match app
        .create_oauth_app(&admin.session.actor, &form.to_raw())
        .await
    {
        Ok(a) => return Ok(saved(a.id)),
        Err(e) => e,
    };
    let errors = FieldErrors::from_app(e, "name").or_page(&admin, LIST)?;
    let uri = api_oauth::redirect_uri(&app, peer, &headers);
    let mut p = FormPage::new(&admin, None, form.values(), uri);
    p.errors = errors;
    Ok(render(p.errors.status(), &p))
}

pub async fn edit_form(
    State(app): State<SharedApp>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Page {
    let a = app
        .get_oauth_app(app_id(&admin, &id)?)
        .await
        .or_page(&admin, LIST)?;
    let uri = api_oauth::redirect_uri(&app, peer, &headers);
    let v = AppValues::from_view(&a);
    let mut p = FormPage::new(&admin, Some(a), v, uri);
    if q.get("flash").is_some_and(|f| f == "app-saved") {
        p.frame.flash = Some("OAuth app saved.".into());
    }
    Ok(render(StatusCode::OK, &p))
}

pub async fn edit_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AppForm>,
) -> Page {
    let id = app_id(&admin, &id)?;
    let Err(e) = app
        .update_oauth_app(&admin.session.actor, id, &form.to_raw())
        .await
    else {
        return Ok(saved(id));
    };
    let errors = FieldErrors::from_app(e, "name").or_page(&admin, LIST)?;
    let a = app.get_oauth_app(id).await.or_page(&admin, LIST)?;
    let uri = api_oauth::redirect_uri(&app, peer, &headers);
    let mut p = FormPage::new(&admin, Some(a), form.values(), uri);
    p.errors = errors;
    Ok(render(p.errors.status(), &p))
}

// ---------------------------------------------------------------- delete

#[derive(Template)]
#[template(path = "admin/oauth_app_delete.html")]
struct DeletePage {
    frame: Frame,
    a: OAuthAppView,
    error: Option<String>,
}

/// The confirmation page, with the reason a delete was refused (409) when there is one.
async fn delete_answer(app: &SharedApp, admin: &Admin, id: i64, error: Option<String>) -> Page {
    let a = app.get_oauth_app(id).await.or_page(admin, LIST)?;
    let status = match error {
        Some(_) => StatusCode::CONFLICT,
        None => StatusCode::OK,
    };
    let frame = Frame::of(admin);
    Ok(render(status, &DeletePage { frame, a, error }))
}

pub async fn delete_page(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Page {
    delete_answer(&app, &admin, app_id(&admin, &id)?, None).await
}

pub async fn delete_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Page {
    let id = app_id(&admin, &id)?;
    match app.delete_oauth_app(&admin.session.actor, id).await {
        Ok(()) => Ok(Redirect::to("/admin/oauth-apps?flash=app-deleted").into_response()),
        Err(AppError::Conflict { message, .. }) => {
            delete_answer(&app, &admin, id, Some(message)).await
        }
        Err(e) => Err(e).or_page(&admin, LIST),
    }
}

// ---------------------------------------------------------------- sign-in on a credential

/// The credential page's sign-in button: its label, and why a new sign-in is needed.
pub struct SignInButton {
    pub label: String,
    pub reason: Option<String>,
    pub signed_in: bool,
}

/// The button for an oauth2 credential whose app uses the authorization-code flow.
pub fn sign_in_button(c: &CredentialView, apps: &[OAuthAppView]) -> Option<SignInButton> {
    let app = apps.iter().find(|a| Some(a.id) == c.oauth_app_id)?;
    let (provider, flow) = parse_kind(app);
    if c.auth_method != "oauth2" || flow != Flow::AuthorizationCode {
        return None;
    }
    let again = c.health.state.as_str() == "sign_in_again";
    Some(SignInButton {
        label: if again {
            "Reconnect".to_string()
        } else {
            format!("Sign in with {}", provider.display())
        },
        reason: again.then(|| c.health.last_error.clone()).flatten(),
        signed_in: c.has_refresh_token,
    })
}

/// Starts the authorization-code flow for a credential, bound to this admin session, and
/// sends the browser to the provider.
pub async fn sign_in(
    State(app): State<SharedApp>,
    admin: Admin,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    const BACK: &str = "/admin/email-integration";
    let id = path_id(&admin, &id, "credential", BACK)?;
    let uri = api_oauth::redirect_uri(&app, peer, &headers);
    let binding = api_oauth::session_binding(&admin);
    let start =
        (app.start_sign_in(id, &binding, &uri).await).or_page(&admin, &format!("{BACK}/{id}"))?;
    Ok(continue_to(&admin, &start.authorization_url))
}

#[derive(Template)]
#[template(path = "admin/oauth_continue.html")]
struct ContinuePage {
    frame: Frame,
    url: String,
}

/// Sends the browser on to the provider's sign-in page with a `Refresh` header (and a link),
/// not a redirect: browsers check a form's redirect against the page's CSP `form-action
/// 'self'`, which would block the provider's site.
fn continue_to(admin: &Admin, url: &str) -> Response {
    let mut r = render(
        StatusCode::OK,
        &ContinuePage {
            frame: Frame::of(admin),
            url: url.to_string(),
        },
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("0; url={url}")) {
        r.headers_mut().insert("refresh", v);
    }
    r
}

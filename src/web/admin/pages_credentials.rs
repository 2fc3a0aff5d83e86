//! The credential pages (System Admin > Email Integration): the dashboard, the New and Details
//! forms with Test Connection in place, Change Password and Delete. Each handler gets the
//! signed-in `Admin` (posts' CSRF tokens are checked by `session::csrf_on_every_post`), calls
//! one `app` function, and renders or redirects. Never builds HTML with `format!`: every page
//! is an askama template, escaped by default.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::pages_common::{FieldErrors, Frame, error_page, flash_text, parse_id, render as page};
use super::session::Admin;
use crate::app::{AppError, CredentialView};
use crate::domain::{RawCredential, Secret, ValidationError, ValidationErrors};
use crate::web::SharedApp;

/// The credential id of a post about one credential, or the page to answer (an early-return
/// page, so its size does not matter). The CSRF token was checked by `csrf_on_every_post`.
#[allow(clippy::result_large_err)]
fn posted_credential(admin: &Admin, raw_id: &str) -> Result<i64, Response> {
    const BACK: &str = "/admin/email-integration";
    parse_id(raw_id).ok_or_else(|| error_page(admin, AppError::NotFound("credential"), BACK))
}

// ---------------------------------------------------------------- dashboard

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    frame: Frame,
    q: String,
    items: Vec<CredentialView>,
}

pub async fn dashboard(
    State(app): State<SharedApp>,
    admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let q = query
        .get("q")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let items = match app.list_credentials().await {
        Ok(items) => items,
        Err(e) => return error_page(&admin, e, "/admin"),
    };
    let needle = q.to_lowercase();
    let items = items
        .into_iter()
        .filter(|c| {
            needle.is_empty()
                || [&c.configuration_name, &c.mailbox, &c.host, &c.description]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
        })
        .collect();
    page(
        StatusCode::OK,
        &DashboardPage {
            frame: Frame {
                flash: flash_text(&query),
                ..Frame::of(&admin)
            },
            q,
            items,
        },
    )
}

// ---------------------------------------------------------------- credential form

/// The values a credential form shows (never the password).
#[derive(Debug, Clone)]
pub struct FormValues {
    mailbox: String,
    host: String,
    port: String,
    secure: bool,
    secure_mode: String,
    configuration_name: String,
    description: String,
    username: String,
    ca_bundle: String,
    pinned_sha256: String,
    enabled: bool,
    /// `password` or `oauth2`.
    auth_method: String,
    /// The OAuth app's id as text (empty: none).
    oauth_app_id: String,
}

impl FormValues {
    fn defaults() -> Self {
        Self {
            mailbox: String::new(),
            host: String::new(),
            port: "993".into(),
            secure: true,
            secure_mode: "tls".into(),
            configuration_name: String::new(),
            description: String::new(),
            username: String::new(),
            ca_bundle: String::new(),
            pinned_sha256: String::new(),
            enabled: true,
            auth_method: "password".into(),
            oauth_app_id: String::new(),
        }
    }

    fn from_view(c: &CredentialView) -> Self {
        Self {
            mailbox: c.mailbox.clone(),
            host: c.host.clone(),
            port: c.port.to_string(),
            secure: c.use_secure_connection,
            secure_mode: if c.security == "starttls" {
                "starttls"
            } else {
                "tls"
            }
            .into(),
            configuration_name: c.configuration_name.clone(),
            description: c.description.clone(),
            username: c.username.clone().unwrap_or_default(),
            ca_bundle: c.ca_bundle.clone().unwrap_or_default(),
            pinned_sha256: c.pinned_sha256.clone().unwrap_or_default(),
            enabled: c.enabled,
            auth_method: c.auth_method.into(),
            oauth_app_id: c.oauth_app_id.map(|i| i.to_string()).unwrap_or_default(),
        }
    }

    fn has_advanced(&self) -> bool {
        self.secure_mode == "starttls"
            || !self.username.is_empty()
            || !self.ca_bundle.is_empty()
            || !self.pinned_sha256.is_empty()
            || !self.enabled
    }
}

/// A posted credential form (new or edit).
#[derive(Deserialize, Default)]
pub struct CredentialForm {
    #[serde(default)]
    mailbox: String,
    password: Option<Secret>,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    use_secure_connection: Option<String>,
    #[serde(default)]
    secure_mode: String,
    #[serde(default)]
    configuration_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    ca_bundle: String,
    #[serde(default)]
    pinned_sha256: String,
    enabled: Option<String>,
    #[serde(default)]
    auth_method: String,
    #[serde(default)]
    oauth_app_id: String,
}

impl CredentialForm {
    fn values(&self, editing: bool) -> FormValues {
        FormValues {
            mailbox: self.mailbox.clone(),
            host: self.host.clone(),
            port: self.port.clone(),
            secure: self.use_secure_connection.is_some(),
            secure_mode: if self.secure_mode == "starttls" {
                "starttls"
            } else {
                "tls"
            }
            .into(),
            configuration_name: self.configuration_name.clone(),
            description: self.description.clone(),
            username: self.username.clone(),
            ca_bundle: self.ca_bundle.clone(),
            pinned_sha256: self.pinned_sha256.clone(),
            enabled: !editing || self.enabled.is_some(),
            auth_method: self.auth_method.clone(),
            oauth_app_id: self.oauth_app_id.clone(),
        }
    }

    /// The raw credential, or the port error (the only check a form needs before `domain`).
    pub fn to_raw(&self, editing: bool) -> Result<RawCredential, ValidationError> {
        let port = match self.port.trim() {
            "" => return Err(ValidationError::required("port", "Port")),
            p => p.parse::<i64>().map_err(|_| {
                ValidationError::new(
                    "port",
                    "out_of_range",
                    "Port must be a whole number from 1 to 65535.",
                )
            })?,
        };
        let security = match (
            self.use_secure_connection.is_some(),
            self.secure_mode.as_str(),
        ) {
            (false, _) => "none",
            (true, "starttls") => "starttls",
            (true, _) => "tls",
        };
        let oauth_app_id = super::pages_common::optional_id(&self.oauth_app_id).map_err(|()| {
            ValidationError::new(
                "oauth_app_id",
                "invalid_choice",
                "Choose an OAuth app from the list.",
            )
        })?;
        let auth_method = match self.auth_method.trim() {
            "" => None,
            m => Some(m.to_string()),
        };
        Ok(RawCredential {
            mailbox: Some(self.mailbox.clone()),
            username: Some(self.username.clone()),
            password: self.password.clone().filter(|p| !p.expose().is_empty()),
            host: Some(self.host.clone()),
            port: Some(port),
            use_secure_connection: None,
            security: Some(security.into()),
            configuration_name: Some(self.configuration_name.clone()),
            description: Some(self.description.clone()),
            ca_bundle: Some(self.ca_bundle.clone()),
            pinned_sha256: Some(self.pinned_sha256.clone()),
            enabled: editing.then_some(self.enabled.is_some()),
            oauth_app_id: oauth_app_id.filter(|_| auth_method.as_deref() == Some("oauth2")),
            auth_method,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/credential_form.html")]
pub struct CredentialPage {
    frame: Frame,
    saved: Option<CredentialView>,
    v: FormValues,
    errors: Vec<ValidationError>,
    form_error: Option<String>,
    action: String,
    test_action: String,
    test_result: Option<String>,
    aliases_html: String,
    /// The OAuth apps to pick from (filled by the handlers that show the form).
    oauth_apps: Vec<crate::app::OAuthAppView>,
}

impl CredentialPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// "Sign in with …" / "Reconnect" for a saved oauth2 credential of an authorization-code app.
    fn sign_in(&self) -> Option<super::pages_oauth_apps::SignInButton> {
        super::pages_oauth_apps::sign_in_button(self.saved.as_ref()?, &self.oauth_apps)
    }

    async fn with_apps(mut self, app: &SharedApp) -> Self {
        self.oauth_apps = super::oauth_apps(app).await;
        self
    }

    fn modal_open(&self) -> bool {
        self.err("new_password").is_some() || self.err("confirm_password").is_some()
    }

    fn new(admin: &Admin, saved: Option<CredentialView>, v: FormValues) -> Self {
        let (action, test_action) = match &saved {
            Some(c) => (
                format!("/admin/email-integration/{}", c.id),
                format!("/admin/email-integration/{}/connection-test", c.id),
            ),
            None => (
                "/admin/email-integration/new".to_string(),
                "/admin/email-integration/connection-test".to_string(),
            ),
        };
        Self {
            frame: Frame::of(admin),
            saved,
            v,
            errors: Vec::new(),
            form_error: None,
            action,
            test_action,
            test_result: None,
            aliases_html: String::new(),
            oauth_apps: Vec::new(),
        }
    }

    fn with_errors(mut self, errors: FieldErrors) -> Self {
        self.form_error = Some("Please correct the fields marked below.".into());
        self.errors = errors.0;
        self
    }
}

pub async fn new_form(State(app): State<SharedApp>, admin: Admin) -> Response {
    page(
        StatusCode::OK,
        &CredentialPage::new(&admin, None, FormValues::defaults())
            .with_apps(&app)
            .await,
    )
}

pub async fn new_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Form(form): Form<CredentialForm>,
) -> Response {
    let values = form.values(false);
    let result = match form.to_raw(false) {
        Ok(raw) => app.create_credential(&admin.session.actor, &raw).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(c) => Redirect::to(&format!("/admin/email-integration/{}?flash=created", c.id))
            .into_response(),
        Err(e) => match FieldErrors::from_app(e, "mailbox") {
            Ok(errors) => page(
                errors.status(),
                &CredentialPage::new(&admin, None, values)
                    .with_apps(&app)
                    .await
                    .with_errors(errors),
            ),
            Err(e) => error_page(&admin, e, "/admin/email-integration"),
        },
    }
}

async fn details_page(app: &SharedApp, admin: &Admin, id: i64) -> Result<CredentialPage, Response> {
    let c = app
        .get_credential(id)
        .await
        .map_err(|e| error_page(admin, e, "/admin/email-integration"))?;
    let v = FormValues::from_view(&c);
    let mut p = CredentialPage::new(admin, Some(c), v).with_apps(app).await;
    p.aliases_html = super::aliases_section(app, admin, id).await;
    Ok(p)
}

pub async fn details(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return error_page(
            &admin,
            AppError::NotFound("credential"),
            "/admin/email-integration",
        );
    };
    match details_page(&app, &admin, id).await {
        Ok(mut p) => {
            p.frame.flash = match q.get("flash").map(String::as_str) {
                Some("alias-saved") => {
                    Some(super::pages_aliases::saved_alias_flash(&app, id, q.get("alias")).await)
                }
                _ => flash_text(&q),
            };
            page(StatusCode::OK, &p)
        }
        Err(r) => r,
    }
}

pub async fn details_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<CredentialForm>,
) -> Response {
    let id = match posted_credential(&admin, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let result = match form.to_raw(true) {
        Ok(raw) => app.update_credential(&admin.session.actor, id, raw).await,
        Err(e) => Err(e.into()),
    };
    let errors = match result {
        Ok(_) => {
            return Redirect::to(&format!("/admin/email-integration/{id}?flash=saved"))
                .into_response();
        }
        Err(e) => match FieldErrors::from_app(e, "mailbox") {
            Ok(errors) => errors,
            Err(e) => return error_page(&admin, e, "/admin/email-integration"),
        },
    };
    match details_page(&app, &admin, id).await {
        Ok(mut p) => {
            p.v = form.values(true);
            page(errors.status(), &p.with_errors(errors))
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    new_password: Option<Secret>,
    confirm_password: Option<Secret>,
}

pub async fn change_password(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let id = match posted_credential(&admin, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let nonempty = |s: &Option<Secret>| s.clone().filter(|p| !p.expose().is_empty());
    let result = app
        .change_password(
            &admin.session.actor,
            id,
            nonempty(&form.new_password).as_ref(),
            nonempty(&form.confirm_password).as_ref(),
        )
        .await;
    match result {
        Ok(_) => Redirect::to(&format!(
            "/admin/email-integration/{id}?flash=password-changed"
        ))
        .into_response(),
        Err(AppError::Validation(errors)) => match details_page(&app, &admin, id).await {
            Ok(mut p) => {
                p.errors = errors.0;
                page(StatusCode::UNPROCESSABLE_ENTITY, &p)
            }
            Err(r) => r,
        },
        Err(e) => error_page(&admin, e, &format!("/admin/email-integration/{id}")),
    }
}

#[derive(Template)]
#[template(path = "admin/delete.html")]
struct DeletePage {
    frame: Frame,
    c: CredentialView,
    error: Option<String>,
}

pub async fn delete_page(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return error_page(
            &admin,
            AppError::NotFound("credential"),
            "/admin/email-integration",
        );
    };
    match app.get_credential(id).await {
        Ok(c) => page(
            StatusCode::OK,
            &DeletePage {
                frame: Frame::of(&admin),
                c,
                error: None,
            },
        ),
        Err(e) => error_page(&admin, e, "/admin/email-integration"),
    }
}

pub async fn delete_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let id = match posted_credential(&admin, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    match app.delete_credential(&admin.session.actor, id).await {
        Ok(()) => Redirect::to("/admin/email-integration?flash=deleted").into_response(),
        Err(AppError::Conflict { message: m, .. }) => match app.get_credential(id).await {
            Ok(c) => page(
                StatusCode::CONFLICT,
                &DeletePage {
                    frame: Frame::of(&admin),
                    c,
                    error: Some(m),
                },
            ),
            Err(e) => error_page(&admin, e, "/admin/email-integration"),
        },
        Err(e) => error_page(&admin, e, "/admin/email-integration"),
    }
}

// ---------------------------------------------------------------- Test Connection

#[derive(Template)]
#[template(path = "admin/test_result.html")]
struct TestResultFragment {
    ok: bool,
    category: &'static str,
    message: String,
    hint: Option<String>,
    server_response: Option<String>,
    /// The form field that fixes the failure (the page offers a button that opens it).
    fix_field: Option<String>,
    address: Option<String>,
    tls: Option<String>,
    certificate: Option<crate::imap::CertificateInfo>,
    inbox: Option<crate::imap::InboxCounts>,
    steps: Vec<crate::imap::Step>,
    /// 200 for a test that ran (whatever its outcome); 429 when it was not allowed to run.
    status: StatusCode,
}

impl TestResultFragment {
    fn of(v: crate::app::ConnectionTestView) -> Self {
        let r = v.report;
        Self {
            ok: r.ok,
            category: r.category.as_str(),
            message: r.message,
            hint: r.hint,
            server_response: r.server_response,
            fix_field: r.fix_field,
            address: r.address,
            tls: r.tls,
            certificate: r.certificate,
            inbox: r.inbox,
            steps: r.steps,
            status: StatusCode::OK,
        }
    }

    /// A result for input that could not be tested at all (a field is invalid).
    fn invalid(errors: &ValidationErrors) -> Self {
        Self {
            ok: false,
            category: "invalid_input",
            message: format!("Not tested: {errors}"),
            hint: None,
            server_response: None,
            fix_field: None,
            address: None,
            tls: None,
            certificate: None,
            inbox: None,
            steps: Vec::new(),
            status: StatusCode::OK,
        }
    }

    /// A test refused because this user started too many (the message says when to retry).
    fn throttled(message: String) -> Self {
        Self {
            ok: false,
            category: "too_many_tests",
            message: format!("Not tested: {message}"),
            hint: None,
            server_response: None,
            fix_field: None,
            address: None,
            tls: None,
            certificate: None,
            inbox: None,
            steps: Vec::new(),
            status: StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// The fragment for the page's script, or the whole form page (without JavaScript).
fn test_answer(
    headers: &HeaderMap,
    fragment: TestResultFragment,
    full_page: impl FnOnce(String) -> CredentialPage,
) -> Response {
    let html = match fragment.render() {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response();
        }
    };
    let from_script = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "fetch");
    if from_script {
        (fragment.status, Html(html)).into_response()
    } else {
        page(fragment.status, &full_page(html))
    }
}

/// Test Connection on the values of the New Email Integration form (password typed in).
pub async fn test_new(
    State(app): State<SharedApp>,
    admin: Admin,
    headers: HeaderMap,
    Form(form): Form<CredentialForm>,
) -> Response {
    let fragment = match form.to_raw(false) {
        Err(e) => TestResultFragment::invalid(&e.into()),
        Ok(raw) => match app.test_connection(&admin.session.actor, &raw).await {
            Ok(v) => TestResultFragment::of(v),
            Err(AppError::Validation(errors)) => TestResultFragment::invalid(&errors),
            Err(AppError::TooManyRequests { message, .. }) => {
                TestResultFragment::throttled(message)
            }
            Err(e) => return error_page(&admin, e, "/admin/email-integration/new"),
        },
    };
    let values = form.values(false);
    let base = CredentialPage::new(&admin, None, values)
        .with_apps(&app)
        .await;
    test_answer(&headers, fragment, |html| {
        let mut p = base;
        p.test_result = Some(html);
        p
    })
}

/// Test Connection on a saved credential with the form's (unsaved) values: with the stored
/// password, or the password typed in (required when the form changes where it would go).
pub async fn test_saved(
    State(app): State<SharedApp>,
    admin: Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CredentialForm>,
) -> Response {
    let id = match posted_credential(&admin, &id) {
        Ok(id) => id,
        Err(page) => return page,
    };
    let fragment = match form.to_raw(true) {
        Err(e) => TestResultFragment::invalid(&e.into()),
        Ok(raw) => {
            let overrides = crate::app::ConnectionOverrides {
                mailbox: raw.mailbox,
                username: raw.username,
                password: raw.password,
                host: raw.host,
                port: raw.port,
                use_secure_connection: None,
                security: raw.security,
                ca_bundle: raw.ca_bundle,
                pinned_sha256: raw.pinned_sha256,
                auth_method: raw.auth_method,
                oauth_app_id: raw.oauth_app_id,
            };
            match app
                .test_stored_credential(&admin.session.actor, id, &overrides)
                .await
            {
                Ok(v) => TestResultFragment::of(v),
                Err(AppError::Validation(errors)) => TestResultFragment::invalid(&errors),
                Err(AppError::TooManyRequests { message, .. }) => {
                    TestResultFragment::throttled(message)
                }
                Err(e) => return error_page(&admin, e, "/admin/email-integration"),
            }
        }
    };
    match details_page(&app, &admin, id).await {
        Ok(mut p) => {
            p.v = form.values(true);
            test_answer(&headers, fragment, move |html| {
                p.test_result = Some(html);
                p
            })
        }
        Err(r) => r,
    }
}

//! Reference data pages of the admin UI: workspaces, project types, clients and contacts —
//! list, add, edit, delete. A refused delete (the row is still used) shows the app's message,
//! which names who uses it.
//!
//! Owns the translation between HTML forms and `RawNamed` / `RawClient` / `RawContact`.
//! Must not hold business rules (uniqueness, references, in-use checks): those are in
//! `app::reference` and the store.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::pages_aliases::Choice;
use super::pages_common::{
    FieldErrors, Frame, csrf_refused, error_page, optional_id, parse_id, render,
};
use super::session::{Admin, csrf_ok};
use crate::app::{AppError, ClientView, ContactView, NamedView, kind_title};
use crate::domain::{RawClient, RawContact, RawNamed};
use crate::store::NamedKind;
use crate::web::SharedApp;

type Q = Query<HashMap<String, String>>;

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .merge(named_routes("/admin/workspaces", NamedKind::Workspace))
        .merge(named_routes("/admin/project-types", NamedKind::ProjectType))
        .merge(record_routes::<Clients>())
        .merge(record_routes::<Contacts>())
}

fn flash(q: &HashMap<String, String>, noun: &str) -> Option<String> {
    match q.get("flash").map(String::as_str) {
        Some("created") => Some(format!("{noun} added.")),
        Some("saved") => Some("Saved.".into()),
        Some("deleted") => Some(format!("{noun} deleted.")),
        _ => None,
    }
}

/// What a list page shows besides its rows: the form (add or edit) and messages.
struct Shown {
    editing: Option<i64>,
    errors: FieldErrors,
    delete_error: Option<String>,
    flash: Option<String>,
}

impl Shown {
    fn list(flash: Option<String>) -> Self {
        Self {
            editing: None,
            errors: FieldErrors::default(),
            delete_error: None,
            flash,
        }
    }

    fn editing(id: i64) -> Self {
        Self {
            editing: Some(id),
            ..Self::list(None)
        }
    }

    fn status(&self) -> StatusCode {
        if self.delete_error.is_some() {
            StatusCode::CONFLICT
        } else {
            self.errors.status()
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

fn plural(kind: NamedKind) -> &'static str {
    match kind {
        NamedKind::Workspace => "Workspaces",
        NamedKind::ProjectType => "Project Types",
    }
}

fn choices_named(rows: &[NamedView]) -> Vec<Choice> {
    rows.iter()
        .map(|r| Choice {
            id: r.id.to_string(),
            name: r.name.clone(),
        })
        .collect()
}

fn name_of(list: &[Choice], id: i64) -> String {
    let id = id.to_string();
    list.iter()
        .find(|c| c.id == id)
        .map_or_else(|| format!("#{id}"), |c| c.name.clone())
}

// ---------------------------------------------------------------- workspaces, project types

#[derive(Template)]
#[template(path = "admin/named.html")]
struct NamedPage {
    nav_user: Option<String>,
    csrf: String,
    flash: Option<String>,
    title: String,
    plural: &'static str,
    base: &'static str,
    items: Vec<NamedView>,
    editing: Option<i64>,
    name: String,
    errors: FieldErrors,
    delete_error: Option<String>,
}

impl NamedPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }

    fn is_editing(&self, id: impl std::borrow::Borrow<i64>) -> bool {
        self.editing == Some(*id.borrow())
    }
}

#[derive(Deserialize, Default)]
struct NamedForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

fn named_routes(base: &'static str, kind: NamedKind) -> Router<SharedApp> {
    Router::new()
        .route(
            base,
            get(move |s: State<SharedApp>, a: Admin, q: Q| named_list(kind, base, s, a, q)).post(
                move |s: State<SharedApp>, a: Admin, f: Form<NamedForm>| {
                    named_save(kind, base, s, a, None, f)
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(move |s: State<SharedApp>, a: Admin, p: Path<String>| {
                named_edit(kind, base, s, a, p)
            })
            .post(
                move |s: State<SharedApp>, a: Admin, p: Path<String>, f: Form<NamedForm>| {
                    named_save(kind, base, s, a, Some(p), f)
                },
            ),
        )
        .route(
            &format!("{base}/{{id}}/delete"),
            post(
                move |s: State<SharedApp>, a: Admin, p: Path<String>, f: Form<CsrfOnly>| {
                    named_delete(kind, base, s, a, p, f)
                },
            ),
        )
}

async fn named_page(
    app: &SharedApp,
    admin: &Admin,
    kind: NamedKind,
    base: &'static str,
    name: String,
    shown: Shown,
) -> Response {
    let items = match app.list_named(kind).await {
        Ok(items) => items,
        Err(e) => return error_page(admin, e, "/admin"),
    };
    let f = Frame::of(admin);
    render(
        shown.status(),
        &NamedPage {
            nav_user: f.nav_user,
            csrf: f.csrf,
            flash: shown.flash,
            title: kind_title(kind),
            plural: plural(kind),
            base,
            items,
            editing: shown.editing,
            name,
            errors: shown.errors,
            delete_error: shown.delete_error,
        },
    )
}

async fn named_list(
    kind: NamedKind,
    base: &'static str,
    State(app): State<SharedApp>,
    admin: Admin,
    Query(q): Q,
) -> Response {
    let shown = Shown::list(flash(&q, &kind_title(kind)));
    named_page(&app, &admin, kind, base, String::new(), shown).await
}

async fn named_edit(
    kind: NamedKind,
    base: &'static str,
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let found = match parse_id(&id) {
        Some(id) => app.get_named(kind, id).await,
        None => Err(AppError::NotFound(kind.label())),
    };
    match found {
        Ok(row) => named_page(&app, &admin, kind, base, row.name, Shown::editing(row.id)).await,
        Err(e) => error_page(&admin, e, base),
    }
}

async fn named_save(
    kind: NamedKind,
    base: &'static str,
    State(app): State<SharedApp>,
    admin: Admin,
    id: Option<Path<String>>,
    Form(form): Form<NamedForm>,
) -> Response {
    if !csrf_ok(&admin.session, &form.csrf) {
        return csrf_refused(&admin, base);
    }
    let id = match id.map(|Path(p)| parse_id(&p)) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => return error_page(&admin, AppError::NotFound(kind.label()), base),
    };
    let raw = RawNamed {
        name: Some(form.name.clone()),
    };
    let actor = &admin.session.actor;
    let result = match id {
        None => app.create_named(actor, kind, &raw).await,
        Some(id) => app.update_named(actor, kind, id, &raw).await,
    };
    match result {
        Ok(_) => Redirect::to(&format!(
            "{base}?flash={}",
            if id.is_some() { "saved" } else { "created" }
        ))
        .into_response(),
        Err(e) => match FieldErrors::from_app(e, "name") {
            Ok(errors) => {
                let shown = Shown {
                    editing: id,
                    errors,
                    ..Shown::list(None)
                };
                named_page(&app, &admin, kind, base, form.name, shown).await
            }
            Err(e) => error_page(&admin, e, base),
        },
    }
}

async fn named_delete(
    kind: NamedKind,
    base: &'static str,
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(&admin.session, &form.csrf) {
        return csrf_refused(&admin, base);
    }
    let Some(id) = parse_id(&id) else {
        return error_page(&admin, AppError::NotFound(kind.label()), base);
    };
    match app.delete_named(&admin.session.actor, kind, id).await {
        Ok(()) => Redirect::to(&format!("{base}?flash=deleted")).into_response(),
        Err(AppError::Conflict { message, .. }) => {
            let shown = Shown {
                delete_error: Some(message),
                ..Shown::list(None)
            };
            named_page(&app, &admin, kind, base, String::new(), shown).await
        }
        Err(e) => error_page(&admin, e, base),
    }
}

// ---------------------------------------------------------------- clients

pub struct ClientLine {
    id: i64,
    name: String,
    client_number: String,
    email_domains: String,
    default_workspace: String,
}

pub struct ClientValues {
    name: String,
    client_number: String,
    email_domains: String,
    default_workspace_id: String,
}

impl ClientValues {
    fn empty() -> Self {
        Self {
            name: String::new(),
            client_number: String::new(),
            email_domains: String::new(),
            default_workspace_id: String::new(),
        }
    }

    fn from_view(c: &ClientView) -> Self {
        Self {
            name: c.name.clone(),
            client_number: c.client_number.clone().unwrap_or_default(),
            email_domains: c.email_domains.join(", "),
            default_workspace_id: c.default_workspace_id.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage {
    nav_user: Option<String>,
    csrf: String,
    flash: Option<String>,
    items: Vec<ClientLine>,
    workspaces: Vec<Choice>,
    editing: Option<i64>,
    v: ClientValues,
    errors: FieldErrors,
    delete_error: Option<String>,
}

impl ClientsPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

#[derive(Deserialize, Default)]
struct ClientForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_number: String,
    #[serde(default)]
    email_domains: String,
    #[serde(default)]
    default_workspace_id: String,
}

impl ClientForm {
    fn values(&self) -> ClientValues {
        ClientValues {
            name: self.name.clone(),
            client_number: self.client_number.clone(),
            email_domains: self.email_domains.clone(),
            default_workspace_id: self.default_workspace_id.clone(),
        }
    }

    fn to_raw(&self) -> RawClient {
        let domains: Vec<String> = self
            .email_domains
            .split([',', ';', ' ', '\n'])
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        let number = self.client_number.trim();
        RawClient {
            name: Some(self.name.clone()),
            client_number: Some((!number.is_empty()).then(|| number.to_string())),
            email_domains: Some(Some(domains)),
            default_workspace_id: optional_id(&self.default_workspace_id).unwrap_or(Some(0)),
        }
    }
}

async fn clients_page(app: &SharedApp, admin: &Admin, v: ClientValues, shown: Shown) -> Response {
    let loaded = async {
        Ok::<_, AppError>((
            app.list_clients().await?,
            app.list_named(NamedKind::Workspace).await?,
        ))
    }
    .await;
    let (clients, workspaces) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(admin, e, "/admin"),
    };
    let workspaces = choices_named(&workspaces);
    let items = clients
        .iter()
        .map(|c| ClientLine {
            id: c.id,
            name: c.name.clone(),
            client_number: c.client_number.clone().unwrap_or_default(),
            email_domains: c.email_domains.join(", "),
            default_workspace: name_of(&workspaces, c.default_workspace_id),
        })
        .collect();
    let f = Frame::of(admin);
    render(
        shown.status(),
        &ClientsPage {
            nav_user: f.nav_user,
            csrf: f.csrf,
            flash: shown.flash,
            items,
            workspaces,
            editing: shown.editing,
            v,
            errors: shown.errors,
            delete_error: shown.delete_error,
        },
    )
}

// ---------------------------------------------------------------- contacts

pub struct ContactLine {
    id: i64,
    email: String,
    name: String,
    client: String,
    workspace: String,
}

pub struct ContactValues {
    email: String,
    name: String,
    client_id: String,
    workspace_id: String,
}

impl ContactValues {
    fn empty() -> Self {
        Self {
            email: String::new(),
            name: String::new(),
            client_id: String::new(),
            workspace_id: String::new(),
        }
    }

    fn from_view(c: &ContactView) -> Self {
        Self {
            email: c.email.clone(),
            name: c.name.clone(),
            client_id: c.client_id.map(|c| c.to_string()).unwrap_or_default(),
            workspace_id: c.workspace_id.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/contacts.html")]
struct ContactsPage {
    nav_user: Option<String>,
    csrf: String,
    flash: Option<String>,
    items: Vec<ContactLine>,
    workspaces: Vec<Choice>,
    clients: Vec<Choice>,
    editing: Option<i64>,
    v: ContactValues,
    errors: FieldErrors,
    delete_error: Option<String>,
}

impl ContactsPage {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

#[derive(Deserialize, Default)]
struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    workspace_id: String,
}

impl ContactForm {
    fn values(&self) -> ContactValues {
        ContactValues {
            email: self.email.clone(),
            name: self.name.clone(),
            client_id: self.client_id.clone(),
            workspace_id: self.workspace_id.clone(),
        }
    }

    fn to_raw(&self) -> RawContact {
        RawContact {
            email: Some(self.email.trim().to_string()),
            name: Some(self.name.clone()),
            client_id: Some(optional_id(&self.client_id).unwrap_or(Some(0))),
            workspace_id: optional_id(&self.workspace_id).unwrap_or(Some(0)),
        }
    }
}

async fn contacts_page(app: &SharedApp, admin: &Admin, v: ContactValues, shown: Shown) -> Response {
    let loaded = async {
        Ok::<_, AppError>((
            app.list_contacts().await?,
            app.list_named(NamedKind::Workspace).await?,
            app.list_clients().await?,
        ))
    }
    .await;
    let (contacts, workspaces, clients) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(admin, e, "/admin"),
    };
    let workspaces = choices_named(&workspaces);
    let clients: Vec<Choice> = clients
        .iter()
        .map(|c| Choice {
            id: c.id.to_string(),
            name: c.name.clone(),
        })
        .collect();
    let items = contacts
        .iter()
        .map(|c| ContactLine {
            id: c.id,
            email: c.email.clone(),
            name: c.name.clone(),
            client: c
                .client_id
                .map_or_else(String::new, |id| name_of(&clients, id)),
            workspace: name_of(&workspaces, c.workspace_id),
        })
        .collect();
    let f = Frame::of(admin);
    render(
        shown.status(),
        &ContactsPage {
            nav_user: f.nav_user,
            csrf: f.csrf,
            flash: shown.flash,
            items,
            workspaces,
            clients,
            editing: shown.editing,
            v,
            errors: shown.errors,
            delete_error: shown.delete_error,
        },
    )
}

// ---------------------------------------------------------------- shared handlers

/// What the client and contact pages differ in; the handlers below serve both.
trait RecordPages: Send + Sync + 'static {
    /// For messages: "Client".
    const NOUN: &'static str;
    /// For not-found errors: "client".
    const KIND: &'static str;
    /// The list page, such as "/admin/clients".
    const BASE: &'static str;
    /// The field a conflict (a value already used) belongs to.
    const CONFLICT_FIELD: &'static str;
    type Form: serde::de::DeserializeOwned + Send + 'static;
    type Values: Send;

    fn csrf(form: &Self::Form) -> &str;
    fn empty() -> Self::Values;
    fn values(form: &Self::Form) -> Self::Values;
    /// The stored record's values, for its edit form.
    fn stored(
        app: &SharedApp,
        id: i64,
    ) -> impl Future<Output = Result<Self::Values, AppError>> + Send;
    /// Adds (`id` None) or updates the record.
    fn save(
        app: &SharedApp,
        actor: &str,
        id: Option<i64>,
        form: &Self::Form,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    fn delete(
        app: &SharedApp,
        actor: &str,
        id: i64,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    fn page(
        app: &SharedApp,
        admin: &Admin,
        v: Self::Values,
        shown: Shown,
    ) -> impl Future<Output = Response> + Send;
}

fn record_routes<P: RecordPages>() -> Router<SharedApp> {
    Router::new()
        .route(P::BASE, get(record_list::<P>).post(record_create::<P>))
        .route(
            &format!("{}/{{id}}", P::BASE),
            get(record_edit::<P>).post(record_save::<P>),
        )
        .route(
            &format!("{}/{{id}}/delete", P::BASE),
            post(record_delete::<P>),
        )
}

async fn record_list<P: RecordPages>(
    State(app): State<SharedApp>,
    admin: Admin,
    Query(q): Q,
) -> Response {
    P::page(&app, &admin, P::empty(), Shown::list(flash(&q, P::NOUN))).await
}

async fn record_edit<P: RecordPages>(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return error_page(&admin, AppError::NotFound(P::KIND), P::BASE);
    };
    match P::stored(&app, id).await {
        Ok(v) => P::page(&app, &admin, v, Shown::editing(id)).await,
        Err(e) => error_page(&admin, e, P::BASE),
    }
}

async fn record_submit<P: RecordPages>(
    app: SharedApp,
    admin: Admin,
    id: Option<i64>,
    form: P::Form,
) -> Response {
    if !csrf_ok(&admin.session, P::csrf(&form)) {
        return csrf_refused(&admin, P::BASE);
    }
    match P::save(&app, &admin.session.actor, id, &form).await {
        Ok(()) => Redirect::to(&format!(
            "{}?flash={}",
            P::BASE,
            if id.is_some() { "saved" } else { "created" }
        ))
        .into_response(),
        Err(e) => match FieldErrors::from_app(e, P::CONFLICT_FIELD) {
            Ok(errors) => {
                let shown = Shown {
                    editing: id,
                    errors,
                    ..Shown::list(None)
                };
                P::page(&app, &admin, P::values(&form), shown).await
            }
            Err(e) => error_page(&admin, e, P::BASE),
        },
    }
}

async fn record_create<P: RecordPages>(
    State(app): State<SharedApp>,
    admin: Admin,
    Form(form): Form<P::Form>,
) -> Response {
    record_submit::<P>(app, admin, None, form).await
}

async fn record_save<P: RecordPages>(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<P::Form>,
) -> Response {
    match parse_id(&id) {
        Some(id) => record_submit::<P>(app, admin, Some(id), form).await,
        None => error_page(&admin, AppError::NotFound(P::KIND), P::BASE),
    }
}

async fn record_delete<P: RecordPages>(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(&admin.session, &form.csrf) {
        return csrf_refused(&admin, P::BASE);
    }
    let Some(id) = parse_id(&id) else {
        return error_page(&admin, AppError::NotFound(P::KIND), P::BASE);
    };
    match P::delete(&app, &admin.session.actor, id).await {
        Ok(()) => Redirect::to(&format!("{}?flash=deleted", P::BASE)).into_response(),
        Err(AppError::Conflict { message, .. }) => {
            let shown = Shown {
                delete_error: Some(message),
                ..Shown::list(None)
            };
            P::page(&app, &admin, P::empty(), shown).await
        }
        Err(e) => error_page(&admin, e, P::BASE),
    }
}

struct Clients;

impl RecordPages for Clients {
    const NOUN: &'static str = "Client";
    const KIND: &'static str = "client";
    const BASE: &'static str = "/admin/clients";
    const CONFLICT_FIELD: &'static str = "name";
    type Form = ClientForm;
    type Values = ClientValues;

    fn csrf(form: &ClientForm) -> &str {
        &form.csrf
    }
    fn empty() -> ClientValues {
        ClientValues::empty()
    }
    fn values(form: &ClientForm) -> ClientValues {
        form.values()
    }
    async fn stored(app: &SharedApp, id: i64) -> Result<ClientValues, AppError> {
        Ok(ClientValues::from_view(&app.get_client(id).await?))
    }
    async fn save(
        app: &SharedApp,
        actor: &str,
        id: Option<i64>,
        form: &ClientForm,
    ) -> Result<(), AppError> {
        match id {
            None => app.create_client(actor, &form.to_raw()).await?,
            Some(id) => app.update_client(actor, id, &form.to_raw()).await?,
        };
        Ok(())
    }
    async fn delete(app: &SharedApp, actor: &str, id: i64) -> Result<(), AppError> {
        app.delete_client(actor, id).await
    }
    async fn page(app: &SharedApp, admin: &Admin, v: ClientValues, shown: Shown) -> Response {
        clients_page(app, admin, v, shown).await
    }
}

struct Contacts;

impl RecordPages for Contacts {
    const NOUN: &'static str = "Contact";
    const KIND: &'static str = "contact";
    const BASE: &'static str = "/admin/contacts";
    const CONFLICT_FIELD: &'static str = "email";
    type Form = ContactForm;
    type Values = ContactValues;

    fn csrf(form: &ContactForm) -> &str {
        &form.csrf
    }
    fn empty() -> ContactValues {
        ContactValues::empty()
    }
    fn values(form: &ContactForm) -> ContactValues {
        form.values()
    }
    async fn stored(app: &SharedApp, id: i64) -> Result<ContactValues, AppError> {
        Ok(ContactValues::from_view(&app.get_contact(id).await?))
    }
    async fn save(
        app: &SharedApp,
        actor: &str,
        id: Option<i64>,
        form: &ContactForm,
    ) -> Result<(), AppError> {
        match id {
            None => app.create_contact(actor, &form.to_raw()).await?,
            Some(id) => app.update_contact(actor, id, &form.to_raw()).await?,
        };
        Ok(())
    }
    async fn delete(app: &SharedApp, actor: &str, id: i64) -> Result<(), AppError> {
        app.delete_contact(actor, id).await
    }
    async fn page(app: &SharedApp, admin: &Admin, v: ContactValues, shown: Shown) -> Response {
        contacts_page(app, admin, v, shown).await
    }
}

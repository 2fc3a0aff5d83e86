//! Alias pages of the admin UI (SPEC §2): the Aliases section on a credential's page, the
//! New / Edit alias form with workspace, project type and client pickers, delete with
//! confirmation, and the routing dry run ("where would mail from X to Y go?").
//!
//! Owns the translation between HTML forms and `RawAlias` / `RouteRequest`. Must not hold
//! business rules (uniqueness, defaults, routing): those are `app::create_alias`,
//! `app::update_alias`, `app::delete_alias` and `app::resolve_route`.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::pages_common::{
    ErrorPage, FieldErrors, Frame, OrPage, Page, error_page, optional_id, path_id, render,
};
use super::session::Admin;
use crate::app::{AliasView, AppError, CredentialView, RouteRequest, RouteView};
use crate::domain::{FIELD_MAPPING_NAMES, RawAlias, split_list};
use crate::store::NamedKind;
use crate::web::SharedApp;

pub fn routes() -> super::Routes {
    super::Routes::default()
        .route(
            "/admin/email-integration/{id}/aliases/new",
            get(new_form).post(new_submit),
        )
        .route(
            "/admin/email-integration/{id}/aliases/{alias_id}",
            get(edit_form).post(edit_submit),
        )
        .route(
            "/admin/email-integration/{id}/aliases/{alias_id}/delete",
            get(delete_page).post(delete_submit),
        )
        .route("/admin/routing", get(dry_run))
}

/// One choice of a picker.
pub struct Choice {
    pub id: String,
    pub name: String,
}

impl Choice {
    pub fn new(id: i64, name: impl Into<String>) -> Self {
        Self {
            id: id.to_string(),
            name: name.into(),
        }
    }

    /// The name of `id` among `list`, or `#id (deleted)`.
    pub fn name_of(list: &[Choice], id: i64) -> String {
        let id = id.to_string();
        list.iter()
            .find(|c| c.id == id)
            .map_or_else(|| format!("#{id} (deleted)"), |c| c.name.clone())
    }
}

/// The reference data the alias form picks from, and names for ids.
struct Pickers {
    workspaces: Vec<Choice>,
    project_types: Vec<Choice>,
    clients: Vec<Choice>,
    /// The built-in project type, preselected for a new alias.
    default_project_type: Option<i64>,
}

impl Pickers {
    async fn load(app: &SharedApp) -> Result<Self, AppError> {
        let named = |rows: Vec<crate::app::NamedView>| {
            rows.into_iter()
                .map(|r| Choice::new(r.id, r.name))
                .collect()
        };
        let client = |c: crate::store::ClientRow| match c.client_number {
            Some(n) => Choice::new(c.id, format!("{} ({n})", c.name)),
            None => Choice::new(c.id, c.name),
        };
        Ok(Self {
            workspaces: named(app.list_named(NamedKind::Workspace).await?),
            project_types: named(app.list_named(NamedKind::ProjectType).await?),
            clients: app.list_clients().await?.into_iter().map(client).collect(),
            default_project_type: app.default_project_type_id().await?,
        })
    }
}

// ---------------------------------------------------------------- the section on a credential

pub struct AliasLine {
    id: i64,
    email_alias: String,
    is_default: bool,
    workspace: String,
    project_type: String,
    client: String,
    include_attachments: bool,
    reply: String,
    always_use_default_workspace: bool,
}

#[derive(Template)]
#[template(path = "admin/aliases_section.html")]
struct AliasesSection {
    credential_id: i64,
    mailbox: String,
    items: Vec<AliasLine>,
    error: Option<String>,
}

fn reply_label(id: Option<i64>) -> String {
    id.map_or_else(|| "No Reply".to_string(), |t| format!("Template {t}"))
}

/// The Aliases section of a credential's page: its aliases, New / Edit / Delete, and the
/// routing dry run form.
pub async fn section(app: &SharedApp, credential_id: i64) -> String {
    let loaded = async {
        let credential = app.get_credential(credential_id).await?;
        let aliases = app.list_aliases(Some(credential_id)).await?;
        let pickers = Pickers::load(app).await?;
        Ok::<_, AppError>((credential, aliases, pickers))
    }
    .await;
    let t = match loaded {
        Ok((c, aliases, p)) => AliasesSection {
            credential_id,
            mailbox: c.mailbox,
            items: aliases
                .iter()
                .map(|a| AliasLine {
                    id: a.id,
                    email_alias: a.email_alias.clone(),
                    is_default: a.is_default,
                    workspace: Choice::name_of(&p.workspaces, a.workspace_id),
                    project_type: Choice::name_of(&p.project_types, a.project_type_id),
                    client: a
                        .client_id
                        .map_or_else(String::new, |id| Choice::name_of(&p.clients, id)),
                    include_attachments: a.include_attachments,
                    reply: reply_label(a.reply_template_id),
                    always_use_default_workspace: a.always_use_default_workspace,
                })
                .collect(),
            error: None,
        },
        Err(e) => {
            tracing::error!(error = %e, "aliases section failed");
            AliasesSection {
                credential_id,
                mailbox: String::new(),
                items: Vec::new(),
                error: Some(
                    "The aliases could not be loaded; the server log has the details.".into(),
                ),
            }
        }
    };
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "aliases section rendering failed");
        String::new()
    })
}

// ---------------------------------------------------------------- the alias form

/// One field mapping input: contract name, label, value.
pub struct Mapping {
    name: &'static str,
    label: &'static str,
    value: String,
}

fn mapping_label(name: &str) -> &'static str {
    match name {
        "category" => "Category",
        "case_type" => "Case Type",
        "priority" => "Priority",
        "status" => "Status",
        "communication_method" => "Communication Method",
        _ => "Field",
    }
}

/// What the alias form shows.
pub struct AliasValues {
    email_alias: String,
    is_default: bool,
    workspace_id: String,
    project_type_id: String,
    client_id: String,
    always_use_default_workspace: bool,
    include_attachments: bool,
    reply_template_id: String,
    mappings: Vec<Mapping>,
}

impl AliasValues {
    fn mappings(map: &BTreeMap<String, String>) -> Vec<Mapping> {
        FIELD_MAPPING_NAMES
            .iter()
            .map(|n| Mapping {
                name: n,
                label: mapping_label(n),
                value: map.get(*n).cloned().unwrap_or_default(),
            })
            .collect()
    }

    fn new_for(c: &CredentialView, siblings: &[AliasView], p: &Pickers) -> Self {
        let first = siblings.is_empty();
        Self {
            // The first alias of a credential is usually its own mailbox, the default.
            email_alias: if first {
                c.mailbox.clone()
            } else {
                String::new()
            },
            is_default: first,
            workspace_id: String::new(),
            project_type_id: p
                .default_project_type
                .map_or_else(String::new, |id| id.to_string()),
            client_id: String::new(),
            always_use_default_workspace: false,
            include_attachments: true,
            reply_template_id: String::new(),
            mappings: Self::mappings(&BTreeMap::new()),
        }
    }

    fn from_view(a: &AliasView) -> Self {
        Self {
            email_alias: a.email_alias.clone(),
            is_default: a.is_default,
            workspace_id: a.workspace_id.to_string(),
            project_type_id: a.project_type_id.to_string(),
            client_id: a.client_id.map(|c| c.to_string()).unwrap_or_default(),
            always_use_default_workspace: a.always_use_default_workspace,
            include_attachments: a.include_attachments,
            reply_template_id: a
                .reply_template_id
                .map(|t| t.to_string())
                .unwrap_or_default(),
            mappings: Self::mappings(&a.field_mappings),
        }
    }
}

/// A posted alias form. Checkboxes are present only when ticked.
#[derive(Deserialize, Default)]
pub struct AliasForm {
    #[serde(default)]
    email_alias: String,
    is_default: Option<String>,
    #[serde(default)]
    workspace_id: String,
    #[serde(default)]
    project_type_id: String,
    #[serde(default)]
    client_id: String,
    always_use_default_workspace: Option<String>,
    include_attachments: Option<String>,
    #[serde(default)]
    reply_template_id: String,
    #[serde(default)]
    fm_category: String,
    #[serde(default)]
    fm_case_type: String,
    #[serde(default)]
    fm_priority: String,
    #[serde(default)]
    fm_status: String,
    #[serde(default)]
    fm_communication_method: String,
}

impl AliasForm {
    fn mapping_map(&self) -> BTreeMap<String, String> {
        [
            ("category", &self.fm_category),
            ("case_type", &self.fm_case_type),
            ("priority", &self.fm_priority),
            ("status", &self.fm_status),
            ("communication_method", &self.fm_communication_method),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }

    fn values(&self) -> AliasValues {
        AliasValues {
            email_alias: self.email_alias.clone(),
            is_default: self.is_default.is_some(),
            workspace_id: self.workspace_id.clone(),
            project_type_id: self.project_type_id.clone(),
            client_id: self.client_id.clone(),
            always_use_default_workspace: self.always_use_default_workspace.is_some(),
            include_attachments: self.include_attachments.is_some(),
            reply_template_id: self.reply_template_id.clone(),
            mappings: AliasValues::mappings(&self.mapping_map()),
        }
    }

    /// The whole alias as a raw form. A value that is not an id becomes 0, which the domain
    /// reports as "must be the id of an existing …" on its field.
    fn to_raw(&self) -> RawAlias {
        let id = |s: &str| optional_id(s).unwrap_or(Some(0));
        RawAlias {
            email_alias: Some(self.email_alias.trim().to_string()),
            is_default: Some(self.is_default.is_some()),
            workspace_id: id(&self.workspace_id),
            project_type_id: id(&self.project_type_id),
            client_id: Some(id(&self.client_id)),
            always_use_default_workspace: Some(self.always_use_default_workspace.is_some()),
            include_attachments: Some(self.include_attachments.is_some()),
            reply_template_id: Some(id(&self.reply_template_id)),
            field_mappings: Some(Some(self.mapping_map())),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/alias_form.html")]
struct AliasFormPage {
    frame: Frame,
    credential: CredentialView,
    alias_id: Option<i64>,
    v: AliasValues,
    errors: FieldErrors,
    workspaces: Vec<Choice>,
    project_types: Vec<Choice>,
    clients: Vec<Choice>,
}

impl AliasFormPage {
    fn action(&self) -> String {
        match self.alias_id {
            Some(a) => format!(
                "/admin/email-integration/{}/aliases/{a}",
                self.credential.id
            ),
            None => format!(
                "/admin/email-integration/{}/aliases/new",
                self.credential.id
            ),
        }
    }
}

fn credential_back(id: i64) -> String {
    format!("/admin/email-integration/{id}")
}

/// Renders the alias form for credential `cid` (new when `alias_id` is `None`).
async fn form_page(
    app: &SharedApp,
    admin: &Admin,
    cid: i64,
    alias_id: Option<i64>,
    values: Option<AliasValues>,
    errors: FieldErrors,
) -> Response {
    let loaded = async {
        let credential = app.get_credential(cid).await?;
        let pickers = Pickers::load(app).await?;
        let values = match (values, alias_id) {
            (Some(v), _) => v,
            (None, Some(a)) => AliasValues::from_view(&alias_of(app, cid, a).await?),
            (None, None) => {
                let siblings = app.list_aliases(Some(cid)).await?;
                AliasValues::new_for(&credential, &siblings, &pickers)
            }
        };
        Ok::<_, AppError>((credential, pickers, values))
    }
    .await;
    let (credential, pickers, v) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(admin, e, &credential_back(cid)),
    };
    let status = errors.status();
    let f = Frame::of(admin);
    render(
        status,
        &AliasFormPage {
            frame: f,
            credential,
            alias_id,
            v,
            errors,
            workspaces: pickers.workspaces,
            project_types: pickers.project_types,
            clients: pickers.clients,
        },
    )
}

/// The alias `alias_id`, only when it belongs to credential `cid`.
async fn alias_of(app: &SharedApp, cid: i64, alias_id: i64) -> Result<AliasView, AppError> {
    let a = app.get_alias(alias_id).await?;
    if a.credential_id != cid {
        return Err(AppError::NotFound("alias"));
    }
    Ok(a)
}

/// The credential id of a path, or the not-found page.
fn credential_id(admin: &Admin, cid: &str) -> Result<i64, ErrorPage> {
    path_id(admin, cid, "credential", "/admin/email-integration")
}

/// The credential id and the alias id of a path, or the not-found page.
fn alias_ids(admin: &Admin, cid: &str, aid: &str) -> Result<(i64, i64), ErrorPage> {
    let cid = credential_id(admin, cid)?;
    Ok((cid, path_id(admin, aid, "alias", &credential_back(cid))?))
}

/// The alias of a path with its credential's id and page (where its pages lead back to), or
/// the page that says why not.
async fn alias_at(
    app: &SharedApp,
    admin: &Admin,
    (cid, aid): (String, String),
) -> Result<(i64, AliasView, String), ErrorPage> {
    let (cid, aid) = alias_ids(admin, &cid, &aid)?;
    let back = credential_back(cid);
    let alias = alias_of(app, cid, aid).await.or_page(admin, &back)?;
    Ok((cid, alias, back))
}

/// Where a saved alias leads: its credential's alias list.
fn saved(cid: i64, alias_id: i64) -> Response {
    let to = format!("/admin/email-integration/{cid}?flash=alias-saved&alias={alias_id}#aliases");
    Redirect::to(&to).into_response()
}

/// What the credential page says after an alias was saved: which one, and whether it is the
/// default.
pub async fn saved_alias_flash(app: &SharedApp, cid: i64, alias_id: Option<&String>) -> String {
    let alias = match alias_id.and_then(|id| super::pages_common::parse_id(id)) {
        Some(id) => alias_of(app, cid, id).await.ok(),
        None => None,
    };
    match alias {
        Some(a) if a.is_default => format!(
            "Alias {} saved. It is the default alias: it also takes the mail no other alias matches.",
            a.email_alias
        ),
        Some(a) => format!("Alias {} saved.", a.email_alias),
        None => "Alias saved.".to_string(),
    }
}

/// The New alias form; `?email_alias=` proposes an address (the exception log's "Add an alias
/// for …").
async fn new_form(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(cid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Page {
    let cid = credential_id(&admin, &cid)?;
    let values = match q.get("email_alias") {
        Some(address) => {
            let back = credential_back(cid);
            let credential = app.get_credential(cid).await.or_page(&admin, &back)?;
            let siblings = app.list_aliases(Some(cid)).await.or_page(&admin, &back)?;
            let pickers = Pickers::load(&app).await.or_page(&admin, &back)?;
            let mut v = AliasValues::new_for(&credential, &siblings, &pickers);
            v.email_alias = address.trim().to_string();
            Some(v)
        }
        None => None,
    };
    Ok(form_page(&app, &admin, cid, None, values, FieldErrors::default()).await)
}

async fn new_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(cid): Path<String>,
    Form(form): Form<AliasForm>,
) -> Page {
    let cid = credential_id(&admin, &cid)?;
    let raw = form.to_raw();
    let e = match app.create_alias(&admin.session.actor, cid, &raw).await {
        Ok(a) => return Ok(saved(cid, a.id)),
        Err(e) => e,
    };
    let errors = FieldErrors::from_app(e, "email_alias").or_page(&admin, &credential_back(cid))?;
    Ok(form_page(&app, &admin, cid, None, Some(form.values()), errors).await)
}

async fn edit_form(
    State(app): State<SharedApp>,
    admin: Admin,
    Path((cid, aid)): Path<(String, String)>,
) -> Page {
    let (cid, aid) = alias_ids(&admin, &cid, &aid)?;
    Ok(form_page(&app, &admin, cid, Some(aid), None, FieldErrors::default()).await)
}

async fn edit_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(ids): Path<(String, String)>,
    Form(form): Form<AliasForm>,
) -> Page {
    let (cid, alias, back) = alias_at(&app, &admin, ids).await?;
    let raw = form.to_raw();
    let Err(e) = app.update_alias(&admin.session.actor, alias.id, &raw).await else {
        return Ok(saved(cid, alias.id));
    };
    let errors = FieldErrors::from_app(e, "email_alias").or_page(&admin, &back)?;
    let values = Some(form.values());
    Ok(form_page(&app, &admin, cid, Some(alias.id), values, errors).await)
}

#[derive(Template)]
#[template(path = "admin/alias_delete.html")]
struct AliasDeletePage {
    frame: Frame,
    credential: CredentialView,
    alias: AliasView,
}

async fn delete_page(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(ids): Path<(String, String)>,
) -> Page {
    let (cid, alias, back) = alias_at(&app, &admin, ids).await?;
    let credential = app.get_credential(cid).await.or_page(&admin, &back)?;
    let frame = Frame::of(&admin);
    let page = AliasDeletePage {
        frame,
        credential,
        alias,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn delete_submit(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(ids): Path<(String, String)>,
) -> Page {
    let (cid, alias, back) = alias_at(&app, &admin, ids).await?;
    (app.delete_alias(&admin.session.actor, alias.id).await).or_page(&admin, &back)?;
    let to = format!("/admin/email-integration/{cid}?flash=alias-deleted#aliases");
    Ok(Redirect::to(&to).into_response())
}

// ---------------------------------------------------------------- routing dry run

/// The dry-run form as typed: lists are comma-separated.
#[derive(Deserialize, Default)]
pub struct DryRunQuery {
    #[serde(default)]
    credential_id: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cc: String,
    #[serde(default)]
    body: String,
}

#[derive(Template)]
#[template(path = "admin/routing.html")]
struct DryRunPage {
    frame: Frame,
    q: DryRunQuery,
    credentials: Vec<Choice>,
    errors: FieldErrors,
    result: Option<RouteView>,
}

async fn dry_run(
    State(app): State<SharedApp>,
    admin: Admin,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| raw.get(k).cloned().unwrap_or_default();
    let q = DryRunQuery {
        credential_id: get("credential_id"),
        from: get("from"),
        to: get("to"),
        cc: get("cc"),
        body: get("body"),
    };
    let credentials = match app.list_credentials().await {
        Ok(list) => list
            .into_iter()
            .map(|c| Choice::new(c.id, format!("{} ({})", c.configuration_name, c.mailbox)))
            .collect(),
        Err(e) => return error_page(&admin, e, "/admin/email-integration"),
    };
    let asked = !q.from.trim().is_empty() || !q.to.trim().is_empty() || !q.cc.trim().is_empty();
    let (mut errors, mut result) = (FieldErrors::default(), None);
    if asked {
        let req = RouteRequest {
            credential_id: optional_id(&q.credential_id).unwrap_or(Some(0)),
            to: split_list(&q.to),
            cc: split_list(&q.cc),
            from: Some(q.from.clone()),
            body: Some(q.body.clone()),
            ..RouteRequest::default()
        };
        match app.resolve_route(&req).await {
            Ok(r) => result = Some(r),
            Err(AppError::Validation(v)) => errors = FieldErrors(v.0),
            Err(e) => return error_page(&admin, e, "/admin/routing"),
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let f = Frame::of(&admin);
    render(
        status,
        &DryRunPage {
            frame: f,
            q,
            credentials,
            errors,
            result,
        },
    )
}

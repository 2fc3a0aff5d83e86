//! Reference data pages of the admin UI, one generic set for every kind of record
//! (`domain::visit_records`) under `/admin/{path}`: the list with the add or edit form under
//! it, save, delete. A refused delete (the row is still used) shows the app's message, which
//! names who uses it.
//!
//! Owns the translation between HTML forms and a record's form (`Record::Raw`), and how a
//! field is shown (a reference by the name of what it points at). Must not hold business
//! rules (uniqueness, references, in-use checks): those are in `app::reference` and the store.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, json};

use super::pages_aliases::Choice;
use super::pages_common::{FieldErrors, Frame, error_page, optional_id, parse_id, render};
use super::session::Admin;
use crate::app::{AppError, RecordView};
use crate::domain::{Kind, Record, Spec, Visit, split_list, visit_records};
use crate::web::SharedApp;

type Q = Query<HashMap<String, String>>;
/// A posted form: its fields by name (and `csrf`), as typed.
type Posted = Form<HashMap<String, String>>;

pub fn routes() -> super::Routes {
    struct Pages(super::Routes);
    impl Visit for Pages {
        fn record<R: Record>(&mut self) {
            let base = base(R::SPEC);
            self.0 = std::mem::take(&mut self.0)
                .route(&base, get(list::<R>).post(create::<R>))
                .route(&format!("{base}/{{id}}"), get(edit::<R>).post(save::<R>))
                .route(&format!("{base}/{{id}}/delete"), post(delete::<R>));
        }
    }
    let mut pages = Pages(super::Routes::default());
    visit_records(&mut pages);
    pages.0
}

fn base(spec: &Spec) -> String {
    format!("/admin/{}", spec.path)
}

fn flash(q: &HashMap<String, String>, spec: &Spec) -> Option<String> {
    match q.get("flash").map(String::as_str) {
        Some("created") => Some(format!("{} added.", spec.title())),
        Some("saved") => Some("Saved.".into()),
        Some("deleted") => Some(format!("{} deleted.", spec.title())),
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

    fn status(&self) -> StatusCode {
        if self.delete_error.is_some() {
            StatusCode::CONFLICT
        } else {
            self.errors.status()
        }
    }
}

/// One row of the list: the first field links to the edit form, the others are cells.
struct Line {
    id: i64,
    title: String,
    cells: Vec<String>,
}

/// One field of the form.
struct Input {
    name: &'static str,
    label: &'static str,
    /// "text", "email" or "select" (a reference).
    kind: &'static str,
    required: bool,
    max_chars: usize,
    hint: &'static str,
    value: String,
    choices: Vec<Choice>,
    /// The select's empty choice.
    none: String,
}

#[derive(Template)]
#[template(path = "admin/record.html")]
struct RecordPage {
    frame: Frame,
    heading: String,
    label: &'static str,
    plural: &'static str,
    base: String,
    columns: Vec<&'static str>,
    items: Vec<Line>,
    editing: Option<i64>,
    inputs: Vec<Input>,
    errors: FieldErrors,
    delete_error: Option<String>,
}

impl RecordPage {
    fn is_editing(&self, id: impl std::borrow::Borrow<i64>) -> bool {
        self.editing == Some(*id.borrow())
    }
}

/// The name of the record `id` among `choices`, or `#id` when it is not there.
fn name_of(choices: &[Choice], id: i64) -> String {
    let id = id.to_string();
    let found = choices.iter().find(|c| c.id == id);
    found.map_or_else(|| format!("#{id}"), |c| c.name.clone())
}

/// The list page of `spec`, with the form showing `values` (the fields as typed).
async fn page(
    app: &SharedApp,
    admin: &Admin,
    spec: &'static Spec,
    values: HashMap<String, String>,
    shown: Shown,
) -> Response {
    let loaded = async {
        let mut choices = HashMap::new();
        for f in spec.fields {
            if let Kind::Ref(to) = f.kind {
                let rows = app.list_records(to).await?;
                let list: Vec<Choice> = rows
                    .iter()
                    .map(|r| Choice {
                        id: r.0.id.to_string(),
                        name: r.0.title(),
                    })
                    .collect();
                choices.insert(f.name, list);
            }
        }
        Ok::<_, AppError>((app.list_records(spec).await?, choices))
    }
    .await;
    let (records, mut choices) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(admin, e, "/admin"),
    };
    let items = records
        .iter()
        .map(|RecordView(r)| Line {
            id: r.id,
            title: r.title(),
            cells: (spec.fields.iter().zip(&r.values).skip(1))
                .map(|(f, v)| {
                    let list = choices.get(f.name).zip(v.as_id());
                    list.map_or_else(|| v.shown(), |(list, id)| name_of(list, id))
                })
                .collect(),
        })
        .collect();
    let inputs = spec
        .fields
        .iter()
        .map(|f| Input {
            name: f.name,
            label: f.label,
            kind: match f.kind {
                Kind::Email => "email",
                Kind::Ref(_) => "select",
                Kind::Text | Kind::List { .. } => "text",
            },
            required: f.required,
            max_chars: f.max_chars,
            hint: f.hint,
            value: values.get(f.name).cloned().unwrap_or_default(),
            choices: choices.remove(f.name).unwrap_or_default(),
            none: match f.kind {
                Kind::Ref(to) if f.required => format!("— choose {} —", to.a()),
                _ => "— none —".to_string(),
            },
        })
        .collect();
    let frame = Frame::of(admin);
    render(
        shown.status(),
        &RecordPage {
            frame: Frame {
                flash: shown.flash,
                ..frame
            },
            heading: spec.heading(),
            label: spec.label,
            plural: spec.plural,
            base: base(spec),
            columns: spec.fields.iter().map(|f| f.label).collect(),
            items,
            editing: shown.editing,
            inputs,
            errors: shown.errors,
            delete_error: shown.delete_error,
        },
    )
}

/// A stored record's fields as a form shows them.
fn stored(RecordView(r): &RecordView) -> HashMap<String, String> {
    let fields = r.spec.fields.iter().zip(&r.values);
    fields
        .map(|(f, v)| (f.name.to_string(), v.shown()))
        .collect()
}

/// The record's form from the posted fields: an empty optional field is null (cleared), a
/// list is split at commas, semicolons and spaces, a reference is an id.
fn form_of<R: Record>(posted: &HashMap<String, String>) -> Result<R::Raw, AppError> {
    let mut form = Map::new();
    for f in R::SPEC.fields {
        let given = posted.get(f.name).map_or("", |s| s.trim());
        let value = match f.kind {
            Kind::List { .. } => json!(split_list(given)),
            Kind::Ref(_) => match optional_id(given) {
                Ok(id) => json!(id),
                Err(()) => json!(0),
            },
            _ if given.is_empty() && !f.required => serde_json::Value::Null,
            _ => json!(given),
        };
        form.insert(f.name.to_string(), value);
    }
    serde_json::from_value(form.into())
        .map_err(|e| AppError::Other(anyhow::anyhow!("the {} form: {e}", R::SPEC.label)))
}

async fn list<R: Record>(State(app): State<SharedApp>, admin: Admin, Query(q): Q) -> Response {
    let shown = Shown::list(flash(&q, R::SPEC));
    page(&app, &admin, R::SPEC, HashMap::new(), shown).await
}

async fn edit<R: Record>(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let spec = R::SPEC;
    let found = match parse_id(&id) {
        Some(id) => app.get_record(spec, id).await,
        None => Err(AppError::NotFound(spec.label)),
    };
    match found {
        Ok(v) => {
            let shown = Shown {
                editing: Some(v.0.id),
                ..Shown::list(None)
            };
            page(&app, &admin, spec, stored(&v), shown).await
        }
        Err(e) => error_page(&admin, e, &base(spec)),
    }
}

/// Adds (`id` None) or updates the record; a refused form is shown again with its errors.
async fn submit<R: Record>(
    app: SharedApp,
    admin: Admin,
    id: Option<i64>,
    posted: HashMap<String, String>,
) -> Response {
    let (spec, back) = (R::SPEC, base(R::SPEC));
    let actor = &admin.session.actor;
    let saved = match (form_of::<R>(&posted), id) {
        (Err(e), _) => Err(e),
        (Ok(raw), None) => app.create_record::<R>(actor, &raw).await,
        (Ok(raw), Some(id)) => app.update_record::<R>(actor, id, &raw).await,
    };
    let first = spec.fields.first().map_or("id", |f| f.name);
    match saved.map_err(|e| FieldErrors::from_app(e, first)) {
        Ok(_) => {
            let done = if id.is_some() { "saved" } else { "created" };
            Redirect::to(&format!("{back}?flash={done}")).into_response()
        }
        Err(Ok(errors)) => {
            let shown = Shown {
                editing: id,
                errors,
                ..Shown::list(None)
            };
            page(&app, &admin, spec, posted, shown).await
        }
        Err(Err(e)) => error_page(&admin, e, &back),
    }
}

async fn create<R: Record>(
    State(app): State<SharedApp>,
    admin: Admin,
    Form(posted): Posted,
) -> Response {
    submit::<R>(app, admin, None, posted).await
}

async fn save<R: Record>(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
    Form(posted): Posted,
) -> Response {
    match parse_id(&id) {
        Some(id) => submit::<R>(app, admin, Some(id), posted).await,
        None => error_page(&admin, AppError::NotFound(R::SPEC.label), &base(R::SPEC)),
    }
}

async fn delete<R: Record>(
    State(app): State<SharedApp>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    let (spec, back) = (R::SPEC, base(R::SPEC));
    let Some(id) = parse_id(&id) else {
        return error_page(&admin, AppError::NotFound(spec.label), &back);
    };
    match app.delete_record(spec, &admin.session.actor, id).await {
        Ok(()) => Redirect::to(&format!("{back}?flash=deleted")).into_response(),
        Err(AppError::Conflict { message, .. }) => {
            let shown = Shown {
                delete_error: Some(message),
                ..Shown::list(None)
            };
            page(&app, &admin, spec, HashMap::new(), shown).await
        }
        Err(e) => error_page(&admin, e, &back),
    }
}

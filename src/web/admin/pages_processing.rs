//! Processing pages of the admin UI: the exception log (with Retry for entries whose email was
//! kept, and its outcome), cases (list filtered by credential or workspace, details), case
//! attachment downloads, and a case's original email ("Download original", "Show source")
//! behind the admin session.
//!
//! Owns how processing data is shown. Must not decide anything: Retry is
//! `app::retry_exception`, cases come from `app::list_cases` / `app::get_case`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::pages_aliases::Choice;
use super::pages_common::{
    Frame, OrPage, Page, error_page, optional_id, parse_id, path_id, render,
};
use super::session::Admin;
use crate::app::{AppError, CaseView};
use crate::store::{CaseFilter, NamedKind};
use crate::web::{SharedApp, download};

pub fn routes() -> super::Routes {
    super::Routes::default()
        .route("/admin/exceptions", get(exceptions))
        .route("/admin/exceptions/{id}/retry", post(retry))
        .route("/admin/cases", get(cases))
        .route("/admin/cases/{id}", get(case_details))
        .route(
            "/admin/cases/{id}/attachments/{attachment_id}",
            get(attachment),
        )
        .route("/admin/cases/{id}/original", get(original))
        .route("/admin/cases/{id}/source", get(source))
}

/// A JSON value as one line of text (lists joined with commas).
fn text_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => {
            let parts: Vec<String> = a.iter().filter_map(text_of).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        other => Some(other.to_string()),
    }
}

/// Labelled lines of a JSON object: the known keys first, in reading order, then the rest.
fn detail_lines(details: &serde_json::Value, known: &[(&str, &str)]) -> Vec<(String, String)> {
    let Some(map) = details.as_object() else {
        return text_of(details)
            .map(|t| vec![("Details".to_string(), t)])
            .unwrap_or_default();
    };
    let mut out: Vec<(String, String)> = known
        .iter()
        .filter_map(|(k, label)| {
            map.get(*k)
                .and_then(text_of)
                .map(|t| (label.to_string(), t))
        })
        .collect();
    for (k, v) in map {
        if !known.iter().any(|(n, _)| n == k)
            && let Some(t) = text_of(v)
        {
            out.push((k.clone(), t));
        }
    }
    out
}

const EMAIL_DETAILS: &[(&str, &str)] = &[
    ("uid", "UID"),
    ("message_id", "Message-ID"),
    ("from", "From"),
    ("to", "To"),
    ("cc", "Cc"),
    ("subject", "Subject"),
];

async fn credential_names(app: &SharedApp) -> Result<Vec<Choice>, AppError> {
    let credentials = app.list_credentials().await?.into_iter();
    Ok(credentials
        .map(|c| Choice::new(c.id, c.configuration_name))
        .collect())
}

// ---------------------------------------------------------------- exception log

/// Whether an entry's email was kept, and what Retry made of it.
pub enum RetryState {
    /// Nothing to retry (no email kept: a refused action, or mail left on the server).
    None,
    Retryable,
    Resolved(i64),
}

pub struct ExceptionLine {
    id: i64,
    at: String,
    credential: String,
    source: String,
    message: String,
    details: Vec<(String, String)>,
    retry: RetryState,
    /// For mail no alias matched: the credential and the recipients, to offer an alias.
    unmatched: Option<Unmatched>,
}

/// Mail that matched no alias of its credential: who it was sent to.
pub struct Unmatched {
    credential_id: i64,
    recipients: String,
    /// The first recipient, proposed for a new alias.
    first: String,
}

impl Unmatched {
    /// For an entry about unmatched mail with its credential and recipients, else `None`.
    fn of(r: &crate::app::ExceptionView) -> Option<Self> {
        if r.message != crate::domain::routing::MISSING_KEY_INFORMATION {
            return None;
        }
        let credential_id = r.credential_id?;
        let addresses: Vec<String> = ["to", "cc"]
            .iter()
            .filter_map(|k| r.details.get(*k)?.as_array())
            .flatten()
            .filter_map(|v| crate::domain::EmailAddress::parse_mail(v.as_str()?).ok())
            .map(|a| a.as_str().to_string())
            .collect();
        Some(Self {
            credential_id,
            first: addresses.first()?.clone(),
            recipients: addresses.join(", "),
        })
    }
}

#[derive(Template)]
#[template(path = "admin/exceptions.html")]
struct ExceptionsPage {
    frame: Frame,
    items: Vec<ExceptionLine>,
    credentials: Vec<Choice>,
    credential_id: String,
    retried: Option<(i64, i64)>,
    retry_error: Option<(i64, String)>,
}

async fn exceptions_page(
    app: &SharedApp,
    admin: &Admin,
    q: &HashMap<String, String>,
    retry_error: Option<(i64, String)>,
) -> Response {
    let credential_id = q.get("credential_id").cloned().unwrap_or_default();
    let filter = optional_id(&credential_id).unwrap_or(None);
    let loaded = async {
        Ok::<_, AppError>((
            app.list_exceptions(100, None, filter).await?,
            credential_names(app).await?,
        ))
    }
    .await;
    let (rows, credentials) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(admin, e, "/admin/email-integration"),
    };
    let mut items = Vec::with_capacity(rows.len());
    // Which entries kept their email (and whether a Retry already made a case), in one query.
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let kept = app.exception_retry_states(&ids).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "exception retry states lookup failed");
        Default::default()
    });
    for r in rows {
        let retry = match kept.get(&r.id) {
            Some(Some(case_id)) => RetryState::Resolved(*case_id),
            Some(None) => RetryState::Retryable,
            None => RetryState::None,
        };
        items.push(ExceptionLine {
            unmatched: Unmatched::of(&r),
            id: r.id,
            at: r.at,
            credential: r
                .credential_id
                .map_or_else(String::new, |id| Choice::name_of(&credentials, id)),
            source: r.source,
            message: r.message,
            details: detail_lines(&r.details, EMAIL_DETAILS),
            retry,
        });
    }
    let retried = match (q.get("retried"), q.get("case")) {
        (Some(e), Some(c)) => parse_id(e).zip(parse_id(c)),
        _ => None,
    };
    let status = if retry_error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let f = Frame::of(admin);
    render(
        status,
        &ExceptionsPage {
            frame: f,
            items,
            credentials,
            credential_id,
            retried,
            retry_error,
        },
    )
}

async fn exceptions(
    State(app): State<SharedApp>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    exceptions_page(&app, &admin, &q, None).await
}

async fn retry(State(app): State<SharedApp>, admin: Admin, Path(id): Path<String>) -> Page {
    let id = path_id(&admin, &id, "exception", "/admin/exceptions")?;
    Ok(match app.retry_exception(&admin.session.actor, id).await {
        Ok(outcome) => Redirect::to(&format!(
            "/admin/exceptions?retried={}&case={}#exception-{}",
            outcome.exception_id, outcome.case_id, outcome.exception_id
        ))
        .into_response(),
        Err(AppError::Conflict { message, .. }) => {
            exceptions_page(&app, &admin, &HashMap::new(), Some((id, message))).await
        }
        Err(e) => error_page(&admin, e, "/admin/exceptions"),
    })
}

// ---------------------------------------------------------------- cases

pub struct CaseLine {
    id: i64,
    created: String,
    subject: String,
    sender: String,
    credential: String,
    workspace: String,
    status: String,
    priority: String,
    attachments: i64,
}

#[derive(Template)]
#[template(path = "admin/cases.html")]
struct CasesPage {
    frame: Frame,
    items: Vec<CaseLine>,
    credentials: Vec<Choice>,
    workspaces: Vec<Choice>,
    credential_id: String,
    workspace_id: String,
}

async fn names(app: &SharedApp) -> Result<(Vec<Choice>, Vec<Choice>), AppError> {
    let workspaces = app.list_named(NamedKind::Workspace).await?.into_iter();
    let workspaces = workspaces.map(|w| Choice::new(w.id, w.name)).collect();
    Ok((credential_names(app).await?, workspaces))
}

async fn cases(
    State(app): State<SharedApp>,
    admin: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let credential_id = q.get("credential_id").cloned().unwrap_or_default();
    let workspace_id = q.get("workspace_id").cloned().unwrap_or_default();
    let filter = CaseFilter {
        credential_id: optional_id(&credential_id).unwrap_or(None),
        workspace_id: optional_id(&workspace_id).unwrap_or(None),
        limit: 200,
        ..CaseFilter::default()
    };
    let loaded =
        async { Ok::<_, AppError>((app.list_cases(&filter).await?, names(&app).await?)) }.await;
    let (rows, (credentials, workspaces)) = match loaded {
        Ok(x) => x,
        Err(e) => return error_page(&admin, e, "/admin/email-integration"),
    };
    let items = rows
        .into_iter()
        .map(|c| CaseLine {
            id: c.case.id,
            created: c.created,
            subject: c.case.subject,
            sender: c.case.sender.unwrap_or_default(),
            credential: Choice::name_of(&credentials, c.case.credential_id),
            workspace: Choice::name_of(&workspaces, c.case.workspace_id),
            status: c.case.status.to_string(),
            priority: c.case.priority.to_string(),
            attachments: c.case.attachment_count,
        })
        .collect();
    let f = Frame::of(&admin);
    render(
        StatusCode::OK,
        &CasesPage {
            frame: f,
            items,
            credentials,
            workspaces,
            credential_id,
            workspace_id,
        },
    )
}

pub struct AttachmentLine {
    id: i64,
    name: String,
    content_type: String,
    size: i64,
}

#[derive(Template)]
#[template(path = "admin/case.html")]
struct CasePage {
    frame: Frame,
    case: CaseView,
    facts: Vec<(String, String)>,
    fields: Vec<(String, String)>,
    routing: Vec<String>,
    attachments: Vec<AttachmentLine>,
    has_original: bool,
}

async fn case_details(State(app): State<SharedApp>, admin: Admin, Path(id): Path<String>) -> Page {
    let id = path_id(&admin, &id, "case", "/admin/cases")?;
    let case = app.get_case(id).await.or_page(&admin, "/admin/cases")?;
    let (credentials, workspaces) = names(&app).await.or_page(&admin, "/admin/cases")?;
    let c = &case.case;
    let mut facts = vec![
        ("Created".to_string(), case.created.clone()),
        (
            "Credential".to_string(),
            Choice::name_of(&credentials, c.credential_id),
        ),
        (
            "Workspace".to_string(),
            Choice::name_of(&workspaces, c.workspace_id),
        ),
    ];
    if let Ok(t) = app
        .get_named(NamedKind::ProjectType, c.project_type_id)
        .await
    {
        facts.push(("Project Type".into(), t.name));
    }
    if let Some(client) = c.client_id
        && let Ok(cl) = app.get_client(client).await
    {
        facts.push(("Client".into(), cl.name));
    }
    if let Some(contact) = c.contact_id
        && let Ok(ct) = app.get_contact(contact).await
    {
        facts.push((
            "Client Contact".into(),
            format!("{} <{}>", ct.name, ct.email),
        ));
    }
    let sender = match (&c.sender_name, &c.sender) {
        (Some(n), Some(s)) if !n.is_empty() => format!("{n} <{s}>"),
        (_, Some(s)) => s.clone(),
        _ => String::new(),
    };
    facts.push(("Sender".into(), sender));
    facts.extend(detail_lines(
        &c.recipients,
        &[
            ("to", "To"),
            ("cc", "Cc"),
            ("delivered_to", "Delivered-To"),
            ("x_original_to", "X-Original-To"),
        ],
    ));
    if let Some(sent) = &case.sent {
        facts.push(("Sent".into(), sent.clone()));
    }
    if let Some(m) = &c.message_id {
        facts.push(("Message-ID".into(), m.clone()));
    }
    facts.push(("Status".into(), c.status.to_string()));
    facts.push(("Priority".into(), c.priority.to_string()));
    facts.push((
        "Communication Method".into(),
        c.communication_method.clone(),
    ));
    if let Some(a) = &case.acknowledgement {
        facts.push(("Acknowledgement".into(), a.clone()));
    }
    facts.retain(|(_, v)| !v.is_empty());
    let fields = detail_lines(&c.fields, &[]);
    let routing = match c.routing.as_array() {
        Some(list) => list
            .iter()
            .map(|r| match (r["decides"].as_str(), r["message"].as_str()) {
                (Some(d), Some(m)) => format!("{d}: {m}"),
                _ => r.to_string(),
            })
            .collect(),
        None => Vec::new(),
    };
    let attachments = c
        .attachments
        .iter()
        .map(|a| AttachmentLine {
            id: a.id,
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: a.size,
        })
        .collect();
    let has_original = c.original_sha256.is_some();
    let f = Frame::of(&admin);
    Ok(render(
        StatusCode::OK,
        &CasePage {
            frame: f,
            case,
            facts,
            fields,
            routing,
            attachments,
            has_original,
        },
    ))
}

/// Attachment bytes as a download.
async fn attachment(
    State(app): State<SharedApp>,
    admin: Admin,
    Path((case_id, attachment_id)): Path<(String, String)>,
) -> Page {
    let back = "/admin/cases";
    let case_id = path_id(&admin, &case_id, "attachment", back)?;
    let attachment_id = path_id(&admin, &attachment_id, "attachment", back)?;
    let back = format!("/admin/cases/{case_id}");
    let (row, bytes) =
        (app.case_attachment(case_id, attachment_id).await).or_page(&admin, &back)?;
    Ok(download("application/octet-stream", &row.name, bytes))
}

/// The original email as a download.
async fn original(State(app): State<SharedApp>, admin: Admin, Path(case_id): Path<String>) -> Page {
    let case_id = path_id(&admin, &case_id, "case", "/admin/cases")?;
    let back = format!("/admin/cases/{case_id}");
    let bytes = app.case_original(case_id).await.or_page(&admin, &back)?;
    Ok(download(
        "message/rfc822",
        &format!("case-{case_id}.eml"),
        bytes,
    ))
}

#[derive(Template)]
#[template(path = "admin/case_source.html")]
struct SourcePage {
    frame: Frame,
    case_id: i64,
    subject: String,
    size: usize,
    /// Whether the bytes are UTF-8 (else the page shows replacement characters).
    exact: bool,
    /// Whether only the start is shown (`SOURCE_SHOWN` bytes).
    truncated: bool,
    source: String,
}

/// The most of an original "Show source" puts in a page; the download has all of it.
const SOURCE_SHOWN: usize = 2_000_000;

/// The original email as text, escaped, in a page.
async fn source(State(app): State<SharedApp>, admin: Admin, Path(case_id): Path<String>) -> Page {
    let case_id = path_id(&admin, &case_id, "case", "/admin/cases")?;
    let back = format!("/admin/cases/{case_id}");
    let case = app.get_case(case_id).await.or_page(&admin, &back)?;
    let bytes = app.case_original(case_id).await.or_page(&admin, &back)?;
    let f = Frame::of(&admin);
    Ok(render(
        StatusCode::OK,
        &SourcePage {
            frame: f,
            case_id,
            subject: case.case.subject,
            size: bytes.len(),
            exact: std::str::from_utf8(&bytes).is_ok(),
            truncated: bytes.len() > SOURCE_SHOWN,
            source: String::from_utf8_lossy(&bytes[..bytes.len().min(SOURCE_SHOWN)]).into_owned(),
        },
    ))
}

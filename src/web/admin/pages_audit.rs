//! The audit log page: who changed, tested or deleted what, newest first.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::pages_common::{Frame, error_page, render as page};
use super::session::Admin;
use crate::web::SharedApp;

pub struct AuditLine {
    at: String,
    actor: String,
    action: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    frame: Frame,
    items: Vec<AuditLine>,
}

pub async fn audit(State(app): State<SharedApp>, admin: Admin) -> Response {
    match app.list_audit(200, None).await {
        Ok(rows) => page(
            StatusCode::OK,
            &AuditPage {
                frame: Frame::of(&admin),
                items: rows
                    .into_iter()
                    .map(|r| AuditLine {
                        at: crate::app::iso_time(r.at),
                        actor: r.actor,
                        action: r.action,
                        summary: r.summary,
                    })
                    .collect(),
            },
        ),
        Err(e) => error_page(&admin, e, "/admin"),
    }
}

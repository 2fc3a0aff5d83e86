//! The routing dry run: "where would mail from X to Y go?" Loads the part of the configuration
//! an email can match, asks the pure `domain::routing::decide`, and names what it chose.
//!
//! Must not decide anything itself: every rule lives in `domain::routing`.

use serde::{Deserialize, Serialize};

use super::processing::Router;
use super::{App, AppResult};
use crate::domain::routing::{AliasRule, ClientRule, Envelope, Reason};
use crate::domain::{EmailAddress, ValidationError, ValidationErrors};
use crate::store::{AliasRow, ClientRow, NamedKind};

/// A dry-run request: recipients by header, the sender, and optionally the body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRequest {
    /// Limit matching to the aliases of this credential (as when its mailbox received it).
    pub credential_id: Option<i64>,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub delivered_to: Vec<String>,
    #[serde(default)]
    pub x_original_to: Vec<String>,
    pub from: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = RoutedNamed)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoutedAlias {
    pub id: i64,
    pub email_alias: String,
    pub is_default: bool,
    pub include_attachments: bool,
    pub reply_template_id: Option<i64>,
    pub field_mappings: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoutedClient {
    pub id: i64,
    pub name: String,
    pub client_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoutedContact {
    pub id: i64,
    pub email: String,
    pub name: String,
}

/// The decision with names, for API and CLI.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteView {
    /// False when no alias matched: no case would be created.
    pub routed: bool,
    /// The exception-log message when not routed.
    pub exception: Option<String>,
    pub credential: Option<Named>,
    pub alias: Option<RoutedAlias>,
    pub workspace: Option<Named>,
    pub project_type: Option<Named>,
    pub client: Option<RoutedClient>,
    pub contact: Option<RoutedContact>,
    pub reasons: Vec<Reason>,
}

/// `Name <a@b>` or `a@b` → the address.
fn bare_address(s: &str) -> &str {
    let t = s.trim();
    match (t.rfind('<'), t.ends_with('>')) {
        (Some(i), true) => &t[i + 1..t.len() - 1],
        _ => t,
    }
}

fn parse_list(
    values: &[String],
    field: &'static str,
    errors: &mut Vec<ValidationError>,
) -> Vec<EmailAddress> {
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match EmailAddress::parse_mail(bare_address(v)) {
            Ok(a) => out.push(a),
            Err(e) => errors.push(ValidationError::new(
                field,
                "invalid_email",
                format!(
                    "{field}[{i}] {v:?} is not a valid email address: it {}.",
                    e.0
                ),
            )),
        }
    }
    out
}

pub(super) fn alias_rule(a: &AliasRow) -> AliasRule {
    AliasRule {
        id: a.id,
        credential_id: a.credential_id,
        email_alias: a.fields.email_alias.clone(),
        is_default: a.fields.is_default,
        workspace_id: a.fields.workspace_id,
        project_type_id: a.fields.project_type_id,
        client_id: a.fields.client_id,
        always_use_default_workspace: a.fields.always_use_default_workspace,
    }
}

pub(super) fn client_rule(c: &ClientRow) -> ClientRule {
    ClientRule {
        id: c.id,
        client_number: c.client_number.clone(),
        email_domains: c.email_domains.clone(),
        default_workspace_id: c.default_workspace_id,
    }
}

impl App {
    /// Parses a dry-run request into an envelope; every bad address is reported.
    pub fn route_envelope(&self, req: &RouteRequest) -> AppResult<Envelope> {
        let mut errors = Vec::new();
        let to = parse_list(&req.to, "to", &mut errors);
        let cc = parse_list(&req.cc, "cc", &mut errors);
        let delivered_to = parse_list(&req.delivered_to, "delivered_to", &mut errors);
        let x_original_to = parse_list(&req.x_original_to, "x_original_to", &mut errors);
        if req.to.len() + req.cc.len() + req.delivered_to.len() + req.x_original_to.len() == 0 {
            errors.push(ValidationError::new(
                "to",
                "required",
                "At least one recipient (to, cc, delivered_to or x_original_to) is required.",
            ));
        }
        let from = match req.from.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(ValidationError::required("from", "From"));
                None
            }
            Some(f) => match EmailAddress::parse_mail(bare_address(f)) {
                Ok(a) => Some(a),
                Err(e) => {
                    errors.push(ValidationError::new(
                        "from",
                        "invalid_email",
                        format!("From must be a valid email address: it {}.", e.0),
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(ValidationErrors(errors).into());
        }
        Ok(Envelope {
            credential_id: req.credential_id,
            to,
            cc,
            delivered_to,
            x_original_to,
            from,
            body: req.body.clone().unwrap_or_default(),
        })
    }

    /// The dry run: where this email would go, and why.
    pub async fn resolve_route(&self, req: &RouteRequest) -> AppResult<RouteView> {
        let envelope = self.route_envelope(req)?;
        if let Some(c) = req.credential_id
            && self.credential_row(c).await.is_err()
        {
            return Err(ValidationError::new(
                "credential_id",
                "not_found",
                format!("Credential {c} does not exist."),
            )
            .into());
        }
        // The same routing data and look-ups as polling.
        let mut router = Router::new(
            req.credential_id.unwrap_or(0),
            self.processing_options().sender_limit_per_hour,
        );
        let d = router.decide(&self.store, &envelope).await?;
        let credential = match d.credential_id {
            Some(id) => self.credential_row(id).await.ok().map(|c| Named {
                id,
                name: c.fields.configuration_name.as_str().to_string(),
            }),
            None => None,
        };
        let alias = match d.alias_id {
            Some(id) => self.store.get_alias(id).await.ok().map(|a| RoutedAlias {
                id,
                email_alias: a.fields.email_alias.as_str().to_string(),
                is_default: a.fields.is_default,
                include_attachments: a.fields.include_attachments,
                reply_template_id: a.fields.reply_template_id,
                field_mappings: a.fields.field_mappings.as_map().clone(),
            }),
            None => None,
        };
        let named = |kind, id: Option<i64>| async move {
            match id {
                Some(id) => self
                    .store
                    .get_named(kind, id)
                    .await
                    .ok()
                    .map(|r| Named { id, name: r.name }),
                None => None,
            }
        };
        let workspace = named(NamedKind::Workspace, d.workspace_id).await;
        let project_type = named(NamedKind::ProjectType, d.project_type_id).await;
        let client = match d.client_id {
            Some(id) => self.store.get_client(id).await.ok().map(|c| RoutedClient {
                id,
                name: c.name,
                client_number: c.client_number,
            }),
            None => None,
        };
        let contact = match d.contact_id {
            Some(id) => self
                .store
                .get_contact(id)
                .await
                .ok()
                .map(|c| RoutedContact {
                    id,
                    email: c.email,
                    name: c.name,
                }),
            None => None,
        };
        Ok(RouteView {
            routed: d.is_routed(),
            exception: d.exception.map(str::to_string),
            credential,
            alias,
            workspace,
            project_type,
            client,
            contact,
            reasons: d.reasons,
        })
    }
}

//! Test Connection use cases: on unsaved form values (password typed in) and on a stored
//! credential (stored password, optional host/port/security/trust overrides). The result of a
//! stored-credential test is kept as its last test; every test is in the audit log.
//!
//! Owns the wording that depends on where the test came from (the seed's "Connected
//! Successfully" / "Invalid Password" for stored credentials). Must not speak IMAP itself
//! (that is `imap::probe`) nor put the password anywhere but into the probe.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::oauth_tokens::sign_in_required;
use super::{App, AppResult, StoreResultExt, iso_time};
use crate::domain::{
    AuthMethod, CaBundle, CredentialFields, EmailAddress, Host, LoginName, PinnedSha256, Port,
    RawCredential, Secret, Security, ValidationError, ValidationErrors, parse_password,
    password_required,
};
use crate::imap::{Category, Credentials, ProbeOptions, ProbeReport, ProbeRequest};
use crate::store::{AuditEntry, LastTest, now_ms};

/// The seed's wording for a stored credential.
pub const STORED_OK_MESSAGE: &str = "Connected Successfully";
pub const STORED_AUTH_FAILED_MESSAGE: &str = "Invalid Password";

/// Edited values to test a stored credential with, without saving them. Values that change
/// where the password goes need the password itself (the stored one is never sent elsewhere).
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectionTestOverrides)]
pub struct ConnectionOverrides {
    pub mailbox: Option<String>,
    pub username: Option<String>,
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub password: Option<Secret>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub use_secure_connection: Option<bool>,
    pub security: Option<String>,
    pub ca_bundle: Option<String>,
    pub pinned_sha256: Option<String>,
    /// `password` or `oauth2`: an oauth2 test uses the stored sign-in only where it was made
    /// (same OAuth app and destination); otherwise only a client-credentials app can test.
    pub auth_method: Option<String>,
    pub oauth_app_id: Option<i64>,
}

/// What was tested.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestedTarget {
    pub host: String,
    pub port: u16,
    pub security: &'static str,
    pub login: String,
}

/// A Test Connection result as clients see it: `{ok, category, message, hint,
/// server_response, steps, …}` plus what was tested and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectionTestView {
    #[serde(flatten)]
    pub report: ProbeReport,
    pub credential_id: Option<i64>,
    pub target: TestedTarget,
    pub tested_at: String,
}

impl ConnectionTestView {
    pub fn category(&self) -> &'static str {
        self.report.category.as_str()
    }
}

/// Checks the fields a connection needs (not name or description) and the password, which an
/// oauth2 form has none of (`None`).
fn parse_form(raw: &RawCredential) -> Result<(ProbeRequest, Option<Secret>), ValidationErrors> {
    fn keep<T>(errors: &mut Vec<ValidationError>, r: Result<T, ValidationError>) -> Option<T> {
        r.map_err(|e| errors.push(e)).ok()
    }
    let mut errors: Vec<ValidationError> = Vec::new();
    macro_rules! take {
        ($e:expr) => {
            keep(&mut errors, $e)
        };
    }
    let mailbox = take!(match raw.mailbox.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => EmailAddress::parse(s).map_err(|e| {
            ValidationError::new(
                "mailbox",
                "invalid_email",
                format!("Mailbox must be a valid email address: it {}.", e.0),
            )
        }),
        _ => Err(ValidationError::required("mailbox", "Mailbox")),
    });
    let username = take!(LoginName::parse_optional(
        raw.username.as_deref().unwrap_or(""),
    ));
    let password = match take!(AuthMethod::parse(raw.auth_method.as_deref().unwrap_or(""))) {
        Some(AuthMethod::OAuth2) => Some(None),
        _ => take!(parse_password(
            raw.password.as_ref(),
            "password",
            "Password"
        ))
        .map(Some),
    };
    let host = take!(match raw.host.as_deref() {
        Some(h) if !h.trim().is_empty() => Host::parse(h),
        _ => Err(ValidationError::required("host", "Host")),
    });
    let port = take!(raw.port.map(Port::parse).unwrap_or(Ok(Port::default())));
    let security = take!(Security::from_inputs(
        raw.use_secure_connection,
        raw.security.as_deref(),
    ));
    let ca_bundle = take!(CaBundle::parse_optional(
        raw.ca_bundle.as_deref().unwrap_or(""),
    ));
    let pinned = take!(PinnedSha256::parse_optional(
        raw.pinned_sha256.as_deref().unwrap_or(""),
    ));
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    let (Some(mailbox), Some(username), Some(password), Some(host), Some(port), Some(security)) =
        (mailbox, username, password, host, port, security)
    else {
        unreachable!("every field parsed");
    };
    let login = username.map_or_else(|| mailbox.as_str().to_string(), |u| u.as_str().to_string());
    Ok((
        ProbeRequest {
            host: host.as_str().to_string(),
            port: port.get(),
            security,
            login,
            ca_bundle: ca_bundle.flatten().map(|c| c.as_str().to_string()),
            pinned_sha256: pinned.flatten().map(|p| p.as_str().to_string()),
        },
        password,
    ))
}

fn request_from_fields(f: &CredentialFields) -> ProbeRequest {
    ProbeRequest::from(f)
}

fn target_of(req: &ProbeRequest) -> TestedTarget {
    TestedTarget {
        host: req.host.clone(),
        port: req.port,
        security: req.security.as_str(),
        login: req.login.clone(),
    }
}

fn audit_details(req: &ProbeRequest, report: &ProbeReport) -> serde_json::Value {
    json!({
        "host": req.host,
        "port": req.port,
        "security": req.security.as_str(),
        "login": req.login,
        "ok": report.ok,
        "category": report.category.as_str(),
        "message": report.message,
    })
}

impl App {
    /// The probe's settings: default timeouts and this installation's deny-list.
    pub fn probe_options(&self) -> ProbeOptions {
        ProbeOptions {
            deny: self
                .settings
                .deny_networks
                .clone()
                .unwrap_or_else(|_| crate::config::default_deny_networks()),
            ..ProbeOptions::default()
        }
    }

    /// Test Connection on unsaved form values (the password typed in). Nothing is stored but
    /// the audit entry.
    pub async fn test_connection(
        &self,
        actor: &str,
        raw: &RawCredential,
    ) -> AppResult<ConnectionTestView> {
        self.count_connection_test(actor)?;
        let (req, password) = parse_form(raw)?;
        let login: Credentials = match password {
            Some(p) => (&p).into(),
            None => self
                .form_token_source(raw.oauth_app_id)
                .await?
                .ok_or_else(|| {
                    sign_in_required(
                        "This OAuth app signs a person in (authorization_code flow), so there \
                         is no token to test with before that sign-in: save the credential, \
                         use Sign in on its page, then test it.",
                    )
                })?,
        };
        let report = crate::imap::probe(&req, &login, &self.probe_options()).await;
        drop(login);
        let audit = AuditEntry::new(actor, "credential.test", "credential")
            .summary(format!(
                "tested the connection to {}:{} for {}: {}",
                req.host,
                req.port,
                req.login,
                report.category.as_str()
            ))
            .details(audit_details(&req, &report));
        self.store.audit(&audit).await.app_err("audit entry")?;
        tracing::info!(
            actor,
            host = %req.host,
            port = req.port,
            category = report.category.as_str(),
            "connection test on form values"
        );
        Ok(ConnectionTestView {
            target: target_of(&req),
            report,
            credential_id: None,
            tested_at: iso_time(now_ms()),
        })
    }

    /// Test Connection on a stored credential with its stored password, optionally with edited
    /// host/port/security/trust (not saved). The result becomes the credential's last test.
    pub async fn test_stored_credential(
        &self,
        actor: &str,
        id: i64,
        overrides: &ConnectionOverrides,
    ) -> AppResult<ConnectionTestView> {
        self.count_connection_test(actor)?;
        let row = self.credential_row(id).await?;
        let mut raw = row.fields.to_raw();
        let o = overrides;
        if o.mailbox.is_some() {
            raw.mailbox = o.mailbox.clone();
        }
        if o.username.is_some() {
            raw.username = o.username.clone();
        }
        if o.host.is_some() {
            raw.host = o.host.clone();
        }
        if o.port.is_some() {
            raw.port = o.port;
        }
        if o.security.is_some() || o.use_secure_connection.is_some() {
            raw.security = o.security.clone();
            raw.use_secure_connection = o.use_secure_connection;
        }
        if o.ca_bundle.is_some() {
            raw.ca_bundle = o.ca_bundle.clone();
        }
        if o.pinned_sha256.is_some() {
            raw.pinned_sha256 = o.pinned_sha256.clone();
        }
        if o.auth_method.is_some() {
            raw.auth_method = o.auth_method.clone();
        }
        if o.oauth_app_id.is_some() {
            raw.oauth_app_id = o.oauth_app_id;
        }
        let fields = CredentialFields::parse(&raw)?;
        let req = request_from_fields(&fields);
        let typed = o.password.as_ref().filter(|p| !p.expose().is_empty());
        let oauth2 = fields.auth_method == AuthMethod::OAuth2;
        // The stored password or sign-in goes only where it was saved for.
        let as_saved = (oauth2 || typed.is_none())
            && fields.auth_method == row.fields.auth_method
            && fields.oauth_app_id == row.fields.oauth_app_id
            && fields.same_destination(&row.fields);
        let login: Credentials = match typed {
            // The stored password, or for oauth2 the credential's token source (a timed step).
            _ if as_saved => self.mail_credentials(&row).await?,
            _ if oauth2 => self
                .form_token_source(fields.oauth_app_id)
                .await?
                .ok_or_else(|| {
                    sign_in_required(
                        "The stored sign-in is used only where it was made (the same OAuth \
                         app, host, port, security, login name and trust): save the change, use \
                         Sign in on the credential's page, then test it.",
                    )
                })?,
            Some(p) => (&parse_password(Some(p), "password", "Password")?).into(),
            None => return Err(password_required().into()),
        };
        let mut report = crate::imap::probe(&req, &login, &self.probe_options()).await;
        drop(login);
        if oauth2 && as_saved {
            match report.category {
                // As in processing: a failure only a person can fix means "sign in again".
                Category::TokenFailed => {
                    self.token_failure_needs_person(&row).await;
                }
                Category::AuthTokenRejected => {
                    if let Some(advice) = self.token_rejection_advice(&row).await {
                        report.message = format!("{} {advice}", report.message);
                    }
                }
                _ => {}
            }
        }
        match report.category {
            Category::Ok => report.message = STORED_OK_MESSAGE.into(),
            Category::AuthFailed => report.message = STORED_AUTH_FAILED_MESSAGE.into(),
            _ => {}
        }
        let at = now_ms();
        let last = LastTest {
            at,
            ok: report.ok,
            category: report.category.as_str().to_string(),
            message: report.message.clone(),
        };
        let mut details = audit_details(&req, &report);
        details["overrides"] = json!(!as_saved);
        let audit = AuditEntry::new(actor, "credential.test", "credential")
            .summary(format!(
                "tested the connection of credential {:?}: {}",
                row.fields.configuration_name.as_str(),
                report.category.as_str()
            ))
            .details(details);
        self.store
            .record_test(id, &last, audit)
            .await
            .app_err("credential")?;
        if report.ok && as_saved {
            // A successful test of the saved settings resumes a paused credential.
            self.resume_processing(id).await?;
        }
        tracing::info!(
            actor,
            credential = id,
            category = report.category.as_str(),
            "connection test on a stored credential"
        );
        Ok(ConnectionTestView {
            target: target_of(&req),
            report,
            credential_id: Some(id),
            tested_at: iso_time(at),
        })
    }
}

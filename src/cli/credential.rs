//! `mailroom credential …`: add, list, show, edit, delete, set-password, sign-in (OAuth2).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::output::{
    advance, print_fields, print_list, print_one, progress_bar, read_password, read_stdin_lines,
    with_password_if_needed,
};
use super::{Format, Shown, cli_actor};
use crate::app::{App, CredentialView};
use crate::domain::RawCredential;

#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Add a credential (the password is asked for, or read with --password-stdin).
    Add {
        #[command(flatten)]
        fields: FieldArgs,
        /// Read the password from standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        format: Format,
    },
    /// List credentials.
    List(Format),
    /// Show one credential.
    Show(Shown),
    /// Edit fields. Changing the host, port, security, login name or trust needs the mailbox
    /// password again: it is asked for, or read with --password-stdin.
    Edit {
        #[command(flatten)]
        credential: Shown,
        #[command(flatten)]
        fields: FieldArgs,
        /// Read the mailbox password from standard input (needed when the edit changes where
        /// the password is sent).
        #[arg(long)]
        password_stdin: bool,
        /// Resume processing of this credential.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Pause processing of this credential.
        #[arg(long)]
        disable: bool,
    },
    /// Delete a credential.
    Delete { id: i64 },
    /// Process new mail of this credential now (a progress bar for a large backlog).
    Poll(Shown),
    /// Test Connection with the stored password; prints each step, exits non-zero on failure.
    /// Values given are tested in place of the stored ones (not saved).
    Test {
        id: i64,
        #[command(flatten)]
        values: super::connection::TestArgs,
    },
    /// OAuth2 sign-in: prints the provider's authorization URL to open in a browser; then
    /// reads the address the browser was sent back to (…/admin/oauth/callback?code=…&state=…,
    /// pasted on standard input) and stores the refresh token sealed.
    SignIn {
        id: i64,
        /// The redirect URI registered at the provider (default: MAILROOM_PUBLIC_URL +
        /// /admin/oauth/callback).
        #[arg(long)]
        redirect_uri: Option<String>,
    },
    /// Change Password: asks twice, or reads one line (or two, new then confirm) from stdin.
    SetPassword {
        #[command(flatten)]
        credential: Shown,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Where and how a mailbox is reached: the values a credential and a Test Connection of
/// unsaved values share.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Mailbox address (also the IMAP login unless --username is given).
    #[arg(long)]
    mailbox: Option<String>,
    /// Separate IMAP login name ("" clears it).
    #[arg(long)]
    username: Option<String>,
    /// IMAP host name or IP address, alone.
    #[arg(long)]
    host: Option<String>,
    /// IMAP port (default 993).
    #[arg(long)]
    port: Option<i64>,
    /// tls (default), starttls or none.
    #[arg(long)]
    security: Option<String>,
    /// File with PEM certificates to trust for this server ("" clears it).
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// SHA-256 fingerprint of the server certificate to accept.
    #[arg(long)]
    pinned_sha256: Option<String>,
}

impl ServerArgs {
    /// The form of these values, the CA bundle read from its file.
    pub fn into_raw(self) -> anyhow::Result<RawCredential> {
        let ca_bundle = match self.ca_bundle {
            Some(p) if p.as_os_str().is_empty() => Some(String::new()),
            Some(p) => Some(
                std::fs::read_to_string(&p)
                    .with_context(|| format!("reading the CA bundle {}", p.display()))?,
            ),
            None => None,
        };
        Ok(RawCredential {
            mailbox: self.mailbox,
            username: self.username,
            host: self.host,
            port: self.port,
            security: self.security,
            ca_bundle,
            pinned_sha256: self.pinned_sha256,
            ..RawCredential::default()
        })
    }
}

#[derive(Debug, Args)]
pub struct FieldArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Configuration Name (shown in lists).
    #[arg(long, alias = "name")]
    configuration_name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// password (default) or oauth2 (no password; sign in with `credential sign-in`).
    #[arg(long)]
    auth_method: Option<String>,
    /// The OAuth app an oauth2 credential signs in through.
    #[arg(long)]
    oauth_app: Option<i64>,
}

impl FieldArgs {
    fn into_raw(self) -> anyhow::Result<RawCredential> {
        Ok(RawCredential {
            configuration_name: self.configuration_name,
            description: self.description,
            auth_method: self.auth_method,
            oauth_app_id: self.oauth_app,
            ..self.server.into_raw()?
        })
    }
}

fn print_credential(c: &CredentialView, json: bool) -> anyhow::Result<()> {
    print_one(c, json, |c| {
        let password = if c.has_password {
            "set (hidden)"
        } else {
            "none"
        };
        let oauth = match c.oauth_app_id {
            None => "-".to_string(),
            Some(a) if c.has_refresh_token => format!("app {a}, signed in"),
            Some(a) => format!("app {a}, not signed in"),
        };
        let last_test = c.last_test.as_ref().map_or("never".into(), |t| {
            format!("{} {} {}", t.at, t.category, t.message)
        });
        print_fields(
            20,
            &[
                ("ID", c.id.to_string()),
                ("Configuration Name", c.configuration_name.clone()),
                ("Mailbox", c.mailbox.clone()),
                ("Login", c.login_name.clone()),
                ("Host", format!("{}:{}", c.host, c.port)),
                ("Security", c.security.to_string()),
                ("Description", c.description.clone()),
                ("Enabled", c.enabled.to_string()),
                ("Sign-in", c.auth_method.to_string()),
                ("Password", password.to_string()),
                ("OAuth2", oauth),
                ("Health", c.health.state.to_string()),
                ("Aliases", c.aliases_count.to_string()),
                ("Last test", last_test),
                ("Updated", format!("{} by {}", c.updated_at, c.updated_by)),
            ],
        );
        for w in &c.warnings {
            println!("warning: {w}");
        }
    })
}

pub async fn run(app: &App, cmd: CredentialCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        CredentialCommand::Add {
            fields,
            password_stdin,
            format,
        } => {
            let mut raw = fields.into_raw()?;
            if raw.auth_method.as_deref() != Some("oauth2") {
                raw.password = Some(read_password(password_stdin, "Password", true)?);
            }
            let c = app.create_credential(&actor, &raw).await?;
            print_credential(&c, format.json)
        }
        CredentialCommand::List(format) => {
            let header = [
                "ID",
                "NAME",
                "MAILBOX",
                "HOST:PORT",
                "SECURITY",
                "HEALTH",
                "ALIASES",
                "LAST TEST",
            ];
            let items = app.list_credentials().await?;
            print_list(&items, format.json, &header, |c| {
                let last_test = c.last_test.as_ref();
                vec![
                    c.id.to_string(),
                    c.configuration_name.clone(),
                    c.mailbox.clone(),
                    format!("{}:{}", c.host, c.port),
                    c.security.to_string(),
                    c.health.state.to_string(),
                    c.aliases_count.to_string(),
                    last_test.map_or("never".into(), |t| t.category.clone()),
                ]
            })
        }
        CredentialCommand::Show(s) => print_credential(&app.get_credential(s.id).await?, s.json),
        CredentialCommand::Edit {
            credential: Shown { id, json },
            fields,
            enable,
            disable,
            password_stdin,
        } => {
            let mut raw = fields.into_raw()?;
            raw.enabled = match (enable, disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let c = with_password_if_needed(password_stdin, |password| {
                let raw = RawCredential {
                    password,
                    ..raw.clone()
                };
                let (app, actor) = (&app, &actor);
                async move { app.update_credential(actor, id, raw).await }
            })
            .await?;
            print_credential(&c, json)
        }
        CredentialCommand::Test { id, values } => {
            super::connection::run_stored(app, id, values).await
        }
        CredentialCommand::Poll(Shown { id, json }) => {
            let bar = progress_bar("processing {bar:30} {pos}/{len} emails");
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            let report = app
                .poll_once(id, |done, total| {
                    if total >= 100 && bar.is_hidden() {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                    advance(&bar, done, total);
                })
                .await?;
            bar.finish_and_clear();
            print_one(&report, json, |r| {
                println!(
                    "Credential {id}: {} new email(s), {} case(s) created, {} exception(s), {} duplicate(s) skipped.",
                    r.backlog, r.cases_created, r.exceptions, r.duplicates
                )
            })
        }
        CredentialCommand::SignIn { id, redirect_uri } => {
            super::oauth_app::sign_in(app, &actor, id, redirect_uri).await
        }
        CredentialCommand::Delete { id } => {
            app.delete_credential(&actor, id).await?;
            println!("Deleted credential {id}.");
            Ok(())
        }
        CredentialCommand::SetPassword {
            credential: Shown { id, json },
            password_stdin,
        } => {
            let (new, confirm) = if password_stdin {
                let mut lines = read_stdin_lines()?.into_iter();
                let new = lines.next();
                let confirm = lines.next().or_else(|| new.clone());
                (new, confirm)
            } else {
                let new = read_password(false, "New Password", false)?;
                let confirm = read_password(false, "Confirm Password", false)?;
                (Some(new), Some(confirm))
            };
            let c = app
                .change_password(&actor, id, new.as_ref(), confirm.as_ref())
                .await?;
            print_one(&c, json, |_| {
                println!(
                    "Password changed for credential {id}. Test the connection with the new password."
                )
            })
        }
    }
}

//! `mailroom credential …`: add, list, show, edit, delete, set-password, sign-in (OAuth2).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::cli_actor;
use super::output::{
    print_json, print_table, read_password, read_stdin_lines, with_password_if_needed,
};
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
        #[arg(long)]
        json: bool,
    },
    /// List credentials.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one credential.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Edit fields. Changing the host, port, security, login name or trust needs the mailbox
    /// password again: it is asked for, or read with --password-stdin.
    Edit {
        id: i64,
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
        #[arg(long)]
        json: bool,
    },
    /// Delete a credential.
    Delete { id: i64 },
    /// Process new mail of this credential now (a progress bar for a large backlog).
    Poll {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Test Connection with the stored password; prints each step, exits non-zero on failure.
    Test(super::connection::CredentialTestArgs),
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
        id: i64,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct FieldArgs {
    /// Mailbox address (also the IMAP login unless --username is given).
    #[arg(long)]
    mailbox: Option<String>,
    /// Separate IMAP login name ("" clears it on edit).
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
    /// Configuration Name (shown in lists).
    #[arg(long, alias = "name")]
    configuration_name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// File with PEM certificates to trust for this server ("" on edit clears).
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// SHA-256 fingerprint of the server certificate to accept.
    #[arg(long)]
    pinned_sha256: Option<String>,
    /// password (default) or oauth2 (no password; sign in with `credential sign-in`).
    #[arg(long)]
    auth_method: Option<String>,
    /// The OAuth app an oauth2 credential signs in through.
    #[arg(long)]
    oauth_app: Option<i64>,
}

impl FieldArgs {
    fn into_raw(self) -> anyhow::Result<RawCredential> {
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
            configuration_name: self.configuration_name,
            description: self.description,
            ca_bundle,
            pinned_sha256: self.pinned_sha256,
            auth_method: self.auth_method,
            oauth_app_id: self.oauth_app,
            ..RawCredential::default()
        })
    }
}

fn print_credential(c: &CredentialView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(c);
    }
    let rows = [
        ("ID", c.id.to_string()),
        ("Configuration Name", c.configuration_name.clone()),
        ("Mailbox", c.mailbox.clone()),
        ("Login", c.login_name.clone()),
        ("Host", format!("{}:{}", c.host, c.port)),
        ("Security", c.security.to_string()),
        ("Description", c.description.clone()),
        ("Enabled", c.enabled.to_string()),
        ("Sign-in", c.auth_method.to_string()),
        (
            "Password",
            if c.has_password {
                "set (hidden)"
            } else {
                "none"
            }
            .to_string(),
        ),
        (
            "OAuth2",
            match c.oauth_app_id {
                None => "-".to_string(),
                Some(a) if c.has_refresh_token => format!("app {a}, signed in"),
                Some(a) => format!("app {a}, not signed in"),
            },
        ),
        ("Health", c.health.state.to_string()),
        ("Aliases", c.aliases_count.to_string()),
        (
            "Last test",
            c.last_test.as_ref().map_or("never".into(), |t| {
                format!("{} {} {}", t.at, t.category, t.message)
            }),
        ),
        ("Updated", format!("{} by {}", c.updated_at, c.updated_by)),
    ];
    for (k, v) in rows {
        println!("{k:<20} {v}");
    }
    for w in &c.warnings {
        println!("warning: {w}");
    }
    Ok(())
}

pub async fn run(app: &App, cmd: CredentialCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        CredentialCommand::Add {
            fields,
            password_stdin,
            json,
        } => {
            let mut raw = fields.into_raw()?;
            if raw.auth_method.as_deref() != Some("oauth2") {
                raw.password = Some(read_password(password_stdin, "Password", true)?);
            }
            let c = app.create_credential(&actor, &raw).await?;
            print_credential(&c, json)
        }
        CredentialCommand::List { json } => {
            let items = app.list_credentials().await?;
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.configuration_name.clone(),
                        c.mailbox.clone(),
                        format!("{}:{}", c.host, c.port),
                        c.security.to_string(),
                        c.health.state.to_string(),
                        c.aliases_count.to_string(),
                        c.last_test
                            .as_ref()
                            .map_or("never".into(), |t| t.category.clone()),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "NAME",
                    "MAILBOX",
                    "HOST:PORT",
                    "SECURITY",
                    "HEALTH",
                    "ALIASES",
                    "LAST TEST",
                ],
                &rows,
            );
            Ok(())
        }
        CredentialCommand::Show { id, json } => {
            print_credential(&app.get_credential(id).await?, json)
        }
        CredentialCommand::Edit {
            id,
            fields,
            enable,
            disable,
            password_stdin,
            json,
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
        CredentialCommand::Test(args) => super::connection::run_stored(app, args).await,
        CredentialCommand::Poll { id, json } => {
            let bar = indicatif::ProgressBar::hidden().with_style(
                indicatif::ProgressStyle::with_template("processing {bar:30} {pos}/{len} emails")
                    .expect("valid template"),
            );
            let report = app
                .poll_once(id, |done, total| {
                    if total >= 100 && bar.is_hidden() {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            if json {
                return print_json(&report);
            }
            println!(
                "Credential {id}: {} new email(s), {} case(s) created, {} exception(s), {} duplicate(s) skipped.",
                report.backlog, report.cases_created, report.exceptions, report.duplicates
            );
            Ok(())
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
            id,
            password_stdin,
            json,
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
            if json {
                print_json(&c)
            } else {
                println!(
                    "Password changed for credential {id}. Test the connection with the new password."
                );
                Ok(())
            }
        }
    }
}

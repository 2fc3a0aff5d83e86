//! `mailroom connection-test …` (form values, password on standard input) and
//! `mailroom credential test ID` (stored password, or a typed one with other values): print each step with its time, then the
//! outcome; exit non-zero when the test fails. Never prints the password.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use super::cli_actor;
use super::output::{print_json, read_password, with_password_if_needed};
use crate::app::{App, ConnectionOverrides, ConnectionTestView};
use crate::domain::RawCredential;

/// `mailroom connection-test`: test unsaved values.
#[derive(Debug, Args)]
pub struct ConnectionTestArgs {
    /// Mailbox address (also the IMAP login unless --username is given).
    #[arg(long)]
    mailbox: String,
    /// Separate IMAP login name.
    #[arg(long)]
    username: Option<String>,
    /// IMAP host name or IP address, alone.
    #[arg(long)]
    host: String,
    /// IMAP port (default 993).
    #[arg(long)]
    port: Option<i64>,
    /// tls (default), starttls or none.
    #[arg(long)]
    security: Option<String>,
    /// File with PEM certificates to trust for this server.
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// SHA-256 fingerprint of the server certificate to accept.
    #[arg(long)]
    pinned_sha256: Option<String>,
    /// Read the password from standard input instead of a prompt.
    #[arg(long)]
    password_stdin: bool,
    #[arg(long)]
    json: bool,
}

/// `mailroom credential test ID`: test a stored credential, optionally with edited values.
#[derive(Debug, Args)]
pub struct CredentialTestArgs {
    id: i64,
    /// Test another host than the stored one (not saved).
    #[arg(long)]
    host: Option<String>,
    /// Test another port (not saved).
    #[arg(long)]
    port: Option<i64>,
    /// Test another security mode: tls, starttls or none (not saved).
    #[arg(long)]
    security: Option<String>,
    /// Test another login name (not saved).
    #[arg(long)]
    username: Option<String>,
    /// Read the mailbox password from standard input (needed with other connection values:
    /// the stored password is only sent where it was saved for).
    #[arg(long)]
    password_stdin: bool,
    #[arg(long)]
    json: bool,
}

fn read_ca_bundle(path: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        std::fs::read_to_string(&p)
            .with_context(|| format!("reading the CA bundle {}", p.display()))
    })
    .transpose()
}

pub async fn run_form(app: &App, args: ConnectionTestArgs) -> anyhow::Result<()> {
    let raw = RawCredential {
        mailbox: Some(args.mailbox),
        username: args.username,
        password: Some(read_password(args.password_stdin, "Password", false)?),
        host: Some(args.host),
        port: args.port,
        security: args.security,
        ca_bundle: read_ca_bundle(args.ca_bundle)?,
        pinned_sha256: args.pinned_sha256,
        ..RawCredential::default()
    };
    let view = app.test_connection(&cli_actor(), &raw).await?;
    finish(&view, args.json)
}

pub async fn run_stored(app: &App, args: CredentialTestArgs) -> anyhow::Result<()> {
    let overrides = ConnectionOverrides {
        host: args.host,
        port: args.port,
        security: args.security,
        username: args.username,
        ..ConnectionOverrides::default()
    };
    let actor = cli_actor();
    let view = with_password_if_needed(args.password_stdin, |password| {
        let overrides = ConnectionOverrides {
            password,
            ..overrides.clone()
        };
        let actor = &actor;
        async move { app.test_stored_credential(actor, args.id, &overrides).await }
    })
    .await?;
    finish(&view, args.json)
}

fn finish(view: &ConnectionTestView, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(view)?;
    } else {
        print_report(view);
    }
    if view.report.ok {
        Ok(())
    } else {
        bail!("the connection test failed ({})", view.category())
    }
}

fn print_report(view: &ConnectionTestView) {
    let r = &view.report;
    println!(
        "Testing {}:{} ({}) as {}",
        view.target.host, view.target.port, view.target.security, view.target.login
    );
    for s in &r.steps {
        println!(
            "  {} {:<10} {:>6} ms  {}",
            if s.ok { "ok  " } else { "FAIL" },
            s.name,
            s.ms,
            s.detail
        );
    }
    println!();
    println!("{} [{}]", r.message, r.category.as_str());
    if let Some(server) = &r.server_response {
        println!("Server said: {server}");
    }
    if let Some(hint) = &r.hint {
        println!("Hint: {hint}");
    }
    if let Some(c) = &r.certificate {
        println!("Certificate: {c}");
    }
    if let Some(i) = &r.inbox {
        println!("INBOX: {} messages, {} unseen", i.messages, i.unseen);
    }
}

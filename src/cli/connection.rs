//! `mailroom connection-test …` (form values, password on standard input) and
//! `mailroom credential test ID` (stored password, or a typed one with other values): print each step with its time, then the
//! outcome; exit non-zero when the test fails. Never prints the password.

use anyhow::bail;
use clap::Args;

use super::credential::ServerArgs;
use super::output::{print_one, read_password, with_password_if_needed};
use super::{Format, cli_actor};
use crate::app::{App, ConnectionOverrides, ConnectionTestView};
use crate::domain::RawCredential;

/// The values a Test Connection runs with, and how it prints. For `mailroom connection-test`
/// they are all there is (`--mailbox` and `--host` required); for `mailroom credential test ID`
/// they are tested in place of the stored ones (and not saved).
#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Read the mailbox password from standard input instead of a prompt (a stored password is
    /// only sent where it was saved for: other connection values need it again).
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    format: Format,
}

pub async fn run_form(app: &App, args: TestArgs) -> anyhow::Result<()> {
    let raw = RawCredential {
        password: Some(read_password(args.password_stdin, "Password", false)?),
        ..args.server.into_raw()?
    };
    let view = app.test_connection(&cli_actor(), &raw).await?;
    finish(&view, args.format.json)
}

pub async fn run_stored(app: &App, id: i64, args: TestArgs) -> anyhow::Result<()> {
    let RawCredential {
        mailbox,
        username,
        host,
        port,
        security,
        ca_bundle,
        pinned_sha256,
        ..
    } = args.server.into_raw()?;
    let overrides = ConnectionOverrides {
        mailbox,
        username,
        host,
        port,
        security,
        ca_bundle,
        pinned_sha256,
        ..ConnectionOverrides::default()
    };
    let actor = cli_actor();
    let view = with_password_if_needed(args.password_stdin, |password| {
        let overrides = ConnectionOverrides {
            password,
            ..overrides.clone()
        };
        let actor = &actor;
        async move { app.test_stored_credential(actor, id, &overrides).await }
    })
    .await?;
    finish(&view, args.format.json)
}

fn finish(view: &ConnectionTestView, json: bool) -> anyhow::Result<()> {
    print_one(view, json, print_report)?;
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

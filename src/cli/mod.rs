//! The `mailroom` command line: `serve`, and a subcommand per noun working directly on the data
//! directory (no server needed). Data goes to stdout (`--json` for machines), errors to stderr.
//!
//! Owns argument parsing and printing. Must not hold business rules: every command calls `app`.

mod alias;
mod case;
mod connection;
mod credential;
mod exception;
mod keys;
mod oauth_app;
mod output;
mod provider;
mod reference;
mod route;
mod serve;
mod token;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::App;
use crate::config::{DEFAULT_DATA_DIR, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "mailroom",
    version,
    about = "Self-hosted email integration service"
)]
pub struct Cli {
    /// Data directory (SQLite database and master key file of the embedded default).
    #[arg(long, global = true, env = "MAILROOM_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Database URL (postgres://…); default: SQLite in the data directory.
    #[arg(
        long,
        global = true,
        env = "MAILROOM_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: the API, the admin UI and mailbox processing.
    Serve(serve::ServeArgs),
    /// Email Integration credentials.
    #[command(subcommand)]
    Credential(credential::CredentialCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Administrator users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Master keys that seal stored passwords.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Test Connection on values that are not saved (the password is read from stdin or a prompt).
    #[command(
        mut_arg("mailbox", |a| a.required(true)),
        mut_arg("host", |a| a.required(true))
    )]
    ConnectionTest(connection::TestArgs),
    /// Aliases: the recipient addresses of a credential and where their mail goes.
    #[command(subcommand)]
    Alias(alias::AliasCommand),
    /// Reference data: a command per kind of record (workspace, project-type, client, contact).
    #[command(flatten)]
    Record(reference::RecordCommand),
    /// Dry run: where an email to these recipients from this sender would go, and why.
    Route(route::RouteArgs),
    /// The exception log.
    #[command(subcommand)]
    Exception(exception::ExceptionCommand),
    /// Mail provider presets, and guessing a mailbox's provider.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Cases created from email.
    #[command(subcommand)]
    Case(case::CaseCommand),
    /// OAuth apps (Microsoft 365, Google, …) that oauth2 credentials sign in through.
    #[command(subcommand)]
    OauthApp(oauth_app::OAuthAppCommand),
}

/// `[--json]`: how a command prints what it shows.
#[derive(Debug, Clone, Copy, Args)]
pub struct Format {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `ID [--json]`: the one row a command shows.
#[derive(Debug, Clone, Copy, Args)]
pub struct Shown {
    pub id: i64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The actor the audit log records for CLI changes.
fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = Settings::new(cli.data_dir.clone(), cli.database_url.clone());
    let result = runtime.block_on(async move {
        if let Command::Keys(keys::KeysCommand::Generate) = &cli.command {
            return keys::generate();
        }
        let app = App::open(settings).await?;
        match cli.command {
            Command::Serve(args) => serve::run(app, args).await,
            Command::Credential(c) => credential::run(&app, c).await,
            Command::Token(c) => token::run(&app, c).await,
            Command::User(c) => user::run(&app, c).await,
            Command::Keys(c) => keys::run(&app, c).await,
            Command::ConnectionTest(a) => connection::run_form(&app, a).await,
            Command::Alias(c) => alias::run(&app, c).await,
            Command::Record(c) => reference::run(&app, c).await,
            Command::Route(a) => route::run(&app, a).await,
            Command::Exception(c) => exception::run(&app, c).await,
            Command::Provider(c) => provider::run(&app, c).await,
            Command::Case(c) => case::run(&app, c).await,
            Command::OauthApp(c) => oauth_app::run(&app, c).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::print_error(&e);
            ExitCode::from(exit_status(&e))
        }
    }
}

/// Exit code of a failed command: 75 (EX_TEMPFAIL, "try again later") when it was refused for
/// being done too often, 1 for everything else.
pub const EXIT_TRY_LATER: u8 = 75;

fn exit_status(e: &anyhow::Error) -> u8 {
    match e.downcast_ref::<crate::app::AppError>() {
        Some(crate::app::AppError::TooManyRequests { .. }) => EXIT_TRY_LATER,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::AppError;

    #[test]
    fn refused_for_being_too_often_exits_75_everything_else_1() {
        let throttled = anyhow::Error::from(AppError::TooManyRequests {
            message: "Try again in 5 seconds.".into(),
            retry_after: std::time::Duration::from_secs(5),
        });
        assert_eq!(exit_status(&throttled), EXIT_TRY_LATER);
        assert_eq!(
            exit_status(&anyhow::Error::from(AppError::NotFound("case"))),
            1
        );
        assert_eq!(exit_status(&anyhow::anyhow!("no database")), 1);
    }
}

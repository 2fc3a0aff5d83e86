//! `mailroom exception …`: the exception log (list) and Retry of an entry.

use clap::Subcommand;

use super::Format;
use super::output::print_list;
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// The exception log, newest first.
    List {
        #[arg(long)]
        credential: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        format: Format,
    },
    /// Run routing again on the email kept with an entry (after adding an alias).
    Retry { id: i64 },
}

pub async fn run(app: &App, cmd: ExceptionCommand) -> anyhow::Result<()> {
    match cmd {
        ExceptionCommand::List {
            credential,
            limit,
            format,
        } => {
            let header = ["ID", "AT", "CREDENTIAL", "SOURCE", "MESSAGE"];
            let items = app.list_exceptions(limit, None, credential).await?;
            print_list(&items, format.json, &header, |e| {
                vec![
                    e.id.to_string(),
                    e.at.clone(),
                    e.credential_id.map_or("-".into(), |c| c.to_string()),
                    e.source.clone(),
                    e.message.clone(),
                ]
            })
        }
        ExceptionCommand::Retry { id } => {
            let r = app.retry_exception(&super::cli_actor(), id).await?;
            println!(
                "Exception {} retried: case {} created.",
                r.exception_id, r.case_id
            );
            Ok(())
        }
    }
}

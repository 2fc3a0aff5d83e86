//! `mailroom exception …`: the exception log (list) and Retry of an entry.

use clap::Subcommand;

use super::output::{print_json, print_table};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// The exception log, newest first.
    List {
        #[arg(long)]
        credential: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Run routing again on the email kept with an entry (after adding an alias).
    Retry { id: i64 },
}

pub async fn run(app: &App, cmd: ExceptionCommand) -> anyhow::Result<()> {
    match cmd {
        ExceptionCommand::List {
            credential,
            limit,
            json,
        } => {
            let items = app.list_exceptions(limit, None, credential).await?;
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        e.at.clone(),
                        e.credential_id.map_or("-".into(), |c| c.to_string()),
                        e.source.clone(),
                        e.message.clone(),
                    ]
                })
                .collect();
            print_table(&["ID", "AT", "CREDENTIAL", "SOURCE", "MESSAGE"], &rows);
            Ok(())
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

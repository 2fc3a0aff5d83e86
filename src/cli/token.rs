//! `mailroom token …`: create (value printed once), list, revoke.

use clap::Subcommand;

use super::cli_actor;
use super::output::{print_json, print_table};
use crate::app::{App, iso_time};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; its value is printed once and never again.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Revoke {
        id: i64,
    },
}

pub async fn run(app: &App, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { name, json } => {
            let t = app.create_token(&cli_actor(), &name).await?;
            if json {
                print_json(&t)
            } else {
                println!("{}", t.token);
                eprintln!(
                    "API token {:?} (id {}) created. It is shown only this once.",
                    t.name, t.id
                );
                Ok(())
            }
        }
        TokenCommand::List { json } => {
            let tokens = app.list_tokens().await?;
            if json {
                return print_json(&tokens);
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.to_string(),
                        t.name.clone(),
                        iso_time(t.created_at),
                        t.last_used_at.map_or("never".into(), iso_time),
                        t.revoked_at
                            .map_or("active".into(), |at| format!("revoked {}", iso_time(at))),
                    ]
                })
                .collect();
            print_table(&["ID", "NAME", "CREATED", "LAST USED", "STATE"], &rows);
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            let t = app.revoke_token(&cli_actor(), id).await?;
            println!("Revoked API token {:?} (id {}).", t.name, t.id);
            Ok(())
        }
    }
}

//! `mailroom token …`: create (value printed once), list, revoke.

use clap::Subcommand;

use super::output::{print_list, print_one};
use super::{Format, cli_actor};
use crate::app::{App, iso_time};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token; its value is printed once and never again.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        format: Format,
    },
    List(Format),
    Revoke {
        id: i64,
    },
}

pub async fn run(app: &App, cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { name, format } => {
            let t = app.create_token(&cli_actor(), &name).await?;
            print_one(&t, format.json, |t| {
                println!("{}", t.token);
                eprintln!(
                    "API token {:?} (id {}) created. It is shown only this once.",
                    t.name, t.id
                );
            })
        }
        TokenCommand::List(format) => {
            let header = ["ID", "NAME", "CREATED", "LAST USED", "STATE"];
            print_list(&app.list_tokens().await?, format.json, &header, |t| {
                vec![
                    t.id.to_string(),
                    t.name.clone(),
                    iso_time(t.created_at),
                    t.last_used_at.map_or("never".into(), iso_time),
                    t.revoked_at
                        .map_or("active".into(), |at| format!("revoked {}", iso_time(at))),
                ]
            })
        }
        TokenCommand::Revoke { id } => {
            let t = app.revoke_token(&cli_actor(), id).await?;
            println!("Revoked API token {:?} (id {}).", t.name, t.id);
            Ok(())
        }
    }
}

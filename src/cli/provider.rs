//! `mailroom provider list | detect --mailbox ADDRESS`: the provider presets, and the guess of
//! a mailbox's provider (its domain, then MX, then SRV records).

use clap::Subcommand;

use super::output::{print_json, print_table};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// The provider presets: server, port, security and how to sign in.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Guess a mailbox's provider and the server settings to use.
    Detect {
        #[arg(long)]
        mailbox: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, cmd: ProviderCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::List { json } => {
            let items = app.provider_presets();
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        p.name.to_string(),
                        if p.host.is_empty() {
                            "-".into()
                        } else {
                            format!("{}:{}", p.host, p.port)
                        },
                        p.security.to_string(),
                        p.auth_methods.join(", "),
                    ]
                })
                .collect();
            print_table(&["ID", "NAME", "SERVER", "SECURITY", "SIGN-IN"], &rows);
            Ok(())
        }
        ProviderCommand::Detect { mailbox, json } => {
            let d = app.detect_provider(Some(&mailbox)).await?;
            if json {
                return print_json(&d);
            }
            match (&d.provider, &d.host, d.port, d.security) {
                (Some(p), Some(host), Some(port), Some(security)) => {
                    println!("{}: {} — {host}:{port} ({security})", d.domain, p.name);
                    println!("Found by: {} ({})", d.found_by, d.reason);
                    println!("Sign-in: {}", p.hint);
                }
                _ => println!("{}: no provider found ({})", d.domain, d.reason),
            }
            Ok(())
        }
    }
}

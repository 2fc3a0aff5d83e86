//! `mailroom provider list | detect --mailbox ADDRESS`: the provider presets, and the guess of
//! a mailbox's provider (its domain, then MX, then SRV records).

use clap::Subcommand;

use super::Format;
use super::output::{print_list, print_one};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// The provider presets: server, port, security and how to sign in.
    List(Format),
    /// Guess a mailbox's provider and the server settings to use.
    Detect {
        #[arg(long)]
        mailbox: String,
        #[command(flatten)]
        format: Format,
    },
}

pub async fn run(app: &App, cmd: ProviderCommand) -> anyhow::Result<()> {
    match cmd {
        ProviderCommand::List(format) => {
            let header = ["ID", "NAME", "SERVER", "SECURITY", "SIGN-IN"];
            print_list(&app.provider_presets(), format.json, &header, |p| {
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
        }
        ProviderCommand::Detect { mailbox, format } => {
            let d = app.detect_provider(Some(&mailbox)).await?;
            print_one(&d, format.json, |d| {
                match (&d.provider, &d.host, d.port, d.security) {
                    (Some(p), Some(host), Some(port), Some(security)) => {
                        println!("{}: {} — {host}:{port} ({security})", d.domain, p.name);
                        println!("Found by: {} ({})", d.found_by, d.reason);
                        println!("Sign-in: {}", p.hint);
                    }
                    _ => println!("{}: no provider found ({})", d.domain, d.reason),
                }
            })
        }
    }
}

//! `mailroom keys …`: status, rotate (with a progress bar), generate.

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use super::cli_actor;
use super::output::{print_json, print_table};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Which keys are loaded and how many secrets each one seals.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Seal every secret with a new key, then retire the old ones.
    Rotate {
        #[arg(long)]
        json: bool,
    },
    /// Print a new random key for MAILROOM_MASTER_KEY (touches nothing).
    Generate,
}

pub fn generate() -> anyhow::Result<()> {
    let (id, key) = crate::vault::generate_key_text();
    println!("{}", key.as_str());
    eprintln!("New master key {id}. Keep it secret; losing it loses the stored passwords.");
    Ok(())
}

pub async fn run(app: &App, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Status { json } => {
            let status = app.key_status().await?;
            if json {
                return print_json(&status);
            }
            println!("Keys from {}", status.source);
            let rows: Vec<Vec<String>> = status
                .keys
                .iter()
                .map(|k| {
                    vec![
                        k.key_id.clone(),
                        if k.primary {
                            "primary"
                        } else if k.loaded {
                            "old"
                        } else {
                            "MISSING"
                        }
                        .to_string(),
                        k.secrets.to_string(),
                    ]
                })
                .collect();
            print_table(&["KEY", "STATE", "SECRETS"], &rows);
            Ok(())
        }
        KeysCommand::Rotate { json } => {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("re-sealing {bar:30} {pos}/{len}")
                    .expect("valid template"),
            );
            let report = app
                .rotate_keys(&cli_actor(), |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            if json {
                return print_json(&report);
            }
            println!(
                "Re-sealed {} secret(s) with key {}.",
                report.resealed, report.new_key_id
            );
            for old in &report.retired_key_ids {
                println!("Retired key {old}.");
            }
            Ok(())
        }
        KeysCommand::Generate => generate(),
    }
}

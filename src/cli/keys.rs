//! `mailroom keys …`: status, rotate (with a progress bar), generate.

use clap::Subcommand;

use super::output::{advance, print_one, print_table, progress_bar};
use super::{Format, cli_actor};
use crate::app::App;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Which keys are loaded and how many secrets each one seals.
    Status(Format),
    /// Seal every secret with a new key, then retire the old ones.
    Rotate(Format),
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
        KeysCommand::Status(format) => print_one(&app.key_status().await?, format.json, |status| {
            println!("Keys from {}", status.source);
            let rows: Vec<Vec<String>> = status
                .keys
                .iter()
                .map(|k| {
                    let state = match (k.primary, k.loaded) {
                        (true, _) => "primary",
                        (false, true) => "old",
                        (false, false) => "MISSING",
                    };
                    vec![k.key_id.clone(), state.to_string(), k.secrets.to_string()]
                })
                .collect();
            print_table(&["KEY", "STATE", "SECRETS"], &rows);
        }),
        KeysCommand::Rotate(format) => {
            let bar = progress_bar("re-sealing {bar:30} {pos}/{len}");
            let report = app
                .rotate_keys(&cli_actor(), |done, total| advance(&bar, done, total))
                .await?;
            bar.finish_and_clear();
            print_one(&report, format.json, |report| {
                println!(
                    "Re-sealed {} secret(s) with key {}.",
                    report.resealed, report.new_key_id
                );
                for old in &report.retired_key_ids {
                    println!("Retired key {old}.");
                }
            })
        }
        KeysCommand::Generate => generate(),
    }
}

//! `mailroom case …`: list (with filters) and show cases; a case's original email; re-parse
//! cases from their originals (after a parser fix); the originals kept and their retention.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;

use super::output::{print_list, print_one};
use super::{Format, Shown};
use crate::app::{App, CaseView, ReparseOutcome};
use crate::store::{CaseFilter, OriginalStats};

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Cases, newest first.
    List {
        #[arg(long)]
        credential: Option<i64>,
        #[arg(long)]
        alias: Option<i64>,
        #[arg(long)]
        workspace: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[command(flatten)]
        format: Format,
    },
    /// One case with its attachments.
    Show(Shown),
    /// The original email of a case, byte for byte, to standard output or a file.
    Original {
        id: i64,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Parse a case (or every case) again from its original email, after a parser fix: body,
    /// subject, sender, recipients and attachments are replaced; routing and status stay.
    Reparse {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every case whose original is kept.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        format: Format,
    },
    /// How many original emails are kept and the space they take (as received, as stored).
    Originals(Format),
    /// Apply the retention of originals now: cases older than the given days (default
    /// `MAILROOM_KEEP_ORIGINALS_DAYS`; unset keeps them for ever) let go of their original.
    PruneOriginals {
        #[arg(long)]
        keep_days: Option<u64>,
        #[command(flatten)]
        format: Format,
    },
}

pub async fn run(app: &App, cmd: CaseCommand) -> anyhow::Result<()> {
    match cmd {
        CaseCommand::List {
            credential,
            alias,
            workspace,
            limit,
            format,
        } => {
            let filter = CaseFilter {
                credential_id: credential,
                alias_id: alias,
                workspace_id: workspace,
                limit: limit.clamp(1, 10_000),
                ..CaseFilter::default()
            };
            let header = [
                "ID",
                "CREATED",
                "FROM",
                "SUBJECT",
                "WORKSPACE",
                "STATUS",
                "ATTACHMENTS",
            ];
            let items = app.list_cases(&filter).await?;
            print_list(&items, format.json, &header, |c| {
                vec![
                    c.case.id.to_string(),
                    c.created.clone(),
                    c.case.sender.clone().unwrap_or_default(),
                    c.case.subject.clone(),
                    c.case.workspace_id.to_string(),
                    c.case.status.to_string(),
                    c.case.attachment_count.to_string(),
                ]
            })
        }
        CaseCommand::Show(s) => print_one(&app.get_case(s.id).await?, s.json, print_case),
        CaseCommand::Original { id, output } => {
            let bytes = app.case_original(id).await?;
            match output {
                Some(path) => std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&bytes)
                        .and_then(|()| out.flush())
                        .context("writing to standard output")?;
                }
            }
            Ok(())
        }
        CaseCommand::Reparse { id, all, format } => reparse(app, id, all, format.json).await,
        CaseCommand::Originals(format) => {
            print_one(&app.original_stats().await?, format.json, print_stats)
        }
        CaseCommand::PruneOriginals { keep_days, format } => {
            let days = keep_days.or(app.processing_options().keep_originals_days);
            let report = app.prune_originals(days).await?;
            print_one(&report, format.json, |report| match days {
                None => println!(
                    "Originals are kept for ever (MAILROOM_KEEP_ORIGINALS_DAYS is not set): nothing pruned."
                ),
                Some(d) => println!(
                    "Kept originals of the last {d} days: {} cases let go of theirs, {} originals deleted.",
                    report.cases_released, report.originals_deleted
                ),
            })?;
            if !format.json {
                print_stats(&report.after);
            }
            Ok(())
        }
    }
}

fn print_case(c: &CaseView) {
    println!(
        "Case {} ({}, priority {})",
        c.case.id, c.case.status, c.case.priority
    );
    println!("Subject:   {}", c.case.subject);
    println!("From:      {}", c.case.sender.clone().unwrap_or_default());
    println!("Workspace: {}", c.case.workspace_id);
    println!("Created:   {}", c.created);
    if let Some(a) = &c.acknowledgement {
        let mut line = a.clone();
        if let Some(first) = line.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        println!("{line}");
    }
    for a in &c.case.attachments {
        println!(
            "Attachment {}: {} ({} bytes, {})",
            a.id, a.name, a.size, a.content_type
        );
    }
    println!("\n{}", c.case.issue);
}

fn print_stats(s: &OriginalStats) {
    let saved = if s.bytes > 0 {
        100.0 - s.stored_bytes as f64 * 100.0 / s.bytes as f64
    } else {
        0.0
    };
    println!(
        "{} originals kept for {} cases ({} cases without one): {} bytes as received, {} bytes stored ({saved:.0} % saved by compression).",
        s.originals, s.cases_with_original, s.cases_without_original, s.bytes, s.stored_bytes
    );
}

async fn reparse(app: &App, id: Option<i64>, all: bool, json: bool) -> anyhow::Result<()> {
    let actor = super::cli_actor();
    if let (Some(id), false) = (id, all) {
        return print_one(&app.reparse_case(&actor, id).await?, json, print_outcome);
    }
    let report = app
        .reparse_all_cases(&actor, |r| {
            if !json {
                match r {
                    Ok(o) if o.changed => print_outcome(o),
                    Ok(_) => {}
                    Err((id, e)) => eprintln!("Case {id}: {e}"),
                }
            }
        })
        .await?;
    print_one(&report, json, |report| {
        println!(
            "Re-parsed {} cases: {} changed, {} failed.",
            report.cases,
            report.changed.len(),
            report.failed.len()
        )
    })?;
    if report.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} cases could not be re-parsed", report.failed.len())
    }
}

fn print_outcome(o: &ReparseOutcome) {
    if o.changed {
        println!(
            "Case {}: re-parsed; {} attachments (was {}), body {} characters (was {}).",
            o.case_id,
            o.attachments_after,
            o.attachments_before,
            o.body_chars_after,
            o.body_chars_before
        );
    } else {
        println!("Case {}: unchanged.", o.case_id);
    }
}

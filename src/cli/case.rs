//! `mailroom case …`: list (with filters) and show cases.

use clap::Subcommand;

use super::output::{print_json, print_table};
use crate::app::App;
use crate::store::CaseFilter;

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
        #[arg(long)]
        json: bool,
    },
    /// One case with its attachments.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, cmd: CaseCommand) -> anyhow::Result<()> {
    match cmd {
        CaseCommand::List {
            credential,
            alias,
            workspace,
            limit,
            json,
        } => {
            let filter = CaseFilter {
                credential_id: credential,
                alias_id: alias,
                workspace_id: workspace,
                limit: limit.clamp(1, 10_000),
                ..CaseFilter::default()
            };
            let items = app.list_cases(&filter).await?;
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    vec![
                        c.case.id.to_string(),
                        c.created.clone(),
                        c.case.sender.clone().unwrap_or_default(),
                        c.case.subject.clone(),
                        c.case.workspace_id.to_string(),
                        c.case.status.clone(),
                        c.case.attachment_count.to_string(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ID",
                    "CREATED",
                    "FROM",
                    "SUBJECT",
                    "WORKSPACE",
                    "STATUS",
                    "ATTACHMENTS",
                ],
                &rows,
            );
            Ok(())
        }
        CaseCommand::Show { id, json } => {
            let c = app.get_case(id).await?;
            if json {
                return print_json(&c);
            }
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
            Ok(())
        }
    }
}

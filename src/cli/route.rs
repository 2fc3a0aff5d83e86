//! `mailroom route --to … --from … [--body-file …]`: the routing dry run. Prints where the
//! email would go and the reason for each choice; "not routed" is an answer, not an error.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::Format;
use super::output::print_one;
use crate::app::{App, RouteRequest, RouteView};

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// To recipients (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    to: Vec<String>,
    /// Cc recipients.
    #[arg(long, value_delimiter = ',')]
    cc: Vec<String>,
    /// Delivered-To addresses.
    #[arg(long, value_delimiter = ',')]
    delivered_to: Vec<String>,
    /// X-Original-To addresses.
    #[arg(long, value_delimiter = ',')]
    x_original_to: Vec<String>,
    /// The sender's address.
    #[arg(long)]
    from: String,
    /// A file holding the body (searched for WSID= and CLID= tokens).
    #[arg(long, conflicts_with = "body")]
    body_file: Option<PathBuf>,
    /// The body as text.
    #[arg(long)]
    body: Option<String>,
    /// Match only the aliases of this credential (as if its mailbox received the email).
    #[arg(long)]
    credential: Option<i64>,
    #[command(flatten)]
    format: Format,
}

fn print_view(v: &RouteView) {
    match (&v.alias, &v.exception) {
        (Some(a), _) => println!(
            "Routed to alias {} (id {}{})",
            a.email_alias,
            a.id,
            if a.is_default { ", default alias" } else { "" }
        ),
        (None, Some(e)) => println!("Not routed: {e}"),
        (None, None) => println!("Not routed"),
    }
    let named = |n: &Option<crate::app::RoutedNamed>| {
        n.as_ref()
            .map_or("-".to_string(), |n| format!("{} (id {})", n.name, n.id))
    };
    println!("{:<14} {}", "Credential", named(&v.credential));
    println!("{:<14} {}", "Workspace", named(&v.workspace));
    println!("{:<14} {}", "Project Type", named(&v.project_type));
    println!(
        "{:<14} {}",
        "Client",
        v.client.as_ref().map_or("-".to_string(), |c| format!(
            "{} (id {}{})",
            c.name,
            c.id,
            c.client_number
                .as_ref()
                .map_or(String::new(), |n| format!(", CLID={n}"))
        ))
    );
    println!(
        "{:<14} {}",
        "Contact",
        v.contact.as_ref().map_or("-".to_string(), |c| format!(
            "{} <{}> (id {})",
            c.name, c.email, c.id
        ))
    );
    println!("Reasons:");
    for (i, r) in v.reasons.iter().enumerate() {
        println!("  {}. {r}", i + 1);
    }
}

pub async fn run(app: &App, args: RouteArgs) -> anyhow::Result<()> {
    let body = match &args.body_file {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => args.body.clone(),
    };
    let req = RouteRequest {
        credential_id: args.credential,
        to: args.to,
        cc: args.cc,
        delivered_to: args.delivered_to,
        x_original_to: args.x_original_to,
        from: Some(args.from),
        body,
    };
    print_one(
        &app.resolve_route(&req).await?,
        args.format.json,
        print_view,
    )
}

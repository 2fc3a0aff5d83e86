//! `mailroom alias …`: list, add, show, edit, delete the aliases of credentials.

use anyhow::bail;
use clap::{Args, Subcommand};

use super::output::{print_fields, print_list, print_one};
use super::{Format, Shown, cli_actor};
use crate::app::{AliasView, App};
use crate::domain::RawAlias;

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// List aliases (all, or one credential's).
    List {
        #[arg(long)]
        credential: Option<i64>,
        #[command(flatten)]
        format: Format,
    },
    /// Add an alias to a credential.
    Add {
        #[arg(long)]
        credential: i64,
        #[command(flatten)]
        fields: AliasArgs,
        #[command(flatten)]
        format: Format,
    },
    Show(Shown),
    /// Edit an alias: only the options given change.
    Edit {
        #[command(flatten)]
        alias: Shown,
        #[command(flatten)]
        fields: AliasArgs,
    },
    Delete {
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct AliasArgs {
    #[arg(long)]
    email_alias: Option<String>,
    /// The default alias of its credential (`--is-default` or `--is-default false`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    is_default: Option<bool>,
    #[arg(long)]
    workspace: Option<i64>,
    /// Default: Client Service Case.
    #[arg(long)]
    project_type: Option<i64>,
    /// Default client id (0 clears it).
    #[arg(long)]
    client: Option<i64>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    always_use_default_workspace: Option<bool>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    include_attachments: Option<bool>,
    /// Reply template id (0 = No Reply).
    #[arg(long)]
    reply_template: Option<i64>,
    /// A case field preset, NAME=VALUE (repeatable; NAME= removes it). Names: category,
    /// case_type, priority, status, communication_method.
    #[arg(long = "field-mapping", value_name = "NAME=VALUE")]
    field_mappings: Vec<String>,
}

impl AliasArgs {
    fn into_raw(self, current: Option<&AliasView>) -> anyhow::Result<RawAlias> {
        let field_mappings = if self.field_mappings.is_empty() {
            None
        } else {
            let mut map = current
                .map(|c| c.field_mappings.clone())
                .unwrap_or_default();
            for pair in &self.field_mappings {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("--field-mapping {pair:?} must be NAME=VALUE");
                };
                if v.trim().is_empty() {
                    map.remove(k.trim());
                } else {
                    map.insert(k.trim().to_string(), v.to_string());
                }
            }
            Some(Some(map))
        };
        Ok(RawAlias {
            email_alias: self.email_alias,
            is_default: self.is_default,
            workspace_id: self.workspace,
            project_type_id: self.project_type,
            client_id: self.client.map(|c| Some(c).filter(|c| *c != 0)),
            always_use_default_workspace: self.always_use_default_workspace,
            include_attachments: self.include_attachments,
            reply_template_id: self.reply_template.map(|t| Some(t).filter(|t| *t != 0)),
            field_mappings,
        })
    }
}

fn print_alias(a: &AliasView, json: bool) -> anyhow::Result<()> {
    print_one(a, json, |a| {
        let mappings: Vec<String> = a
            .field_mappings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let reply = a.reply_template_id.map(|t| t.to_string());
        print_fields(
            29,
            &[
                ("ID", a.id.to_string()),
                ("Credential", a.credential_id.to_string()),
                ("Email Alias", a.email_alias.clone()),
                ("Default Alias", yes_no(a.is_default)),
                ("Workspace", a.workspace_id.to_string()),
                ("Project Type", a.project_type_id.to_string()),
                ("Client", or_dash(a.client_id)),
                (
                    "Always use Default Workspace",
                    yes_no(a.always_use_default_workspace),
                ),
                ("Include Attachments", yes_no(a.include_attachments)),
                ("Reply Template", reply.unwrap_or("No Reply".into())),
                ("Field mappings", mappings.join(", ")),
                ("Updated", format!("{} by {}", a.updated_at, a.updated_by)),
            ],
        );
    })
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// An optional id, or "-".
fn or_dash(id: Option<i64>) -> String {
    id.map_or("-".into(), |i| i.to_string())
}

pub async fn run(app: &App, cmd: AliasCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        AliasCommand::List { credential, format } => {
            let header = [
                "ID",
                "CREDENTIAL",
                "EMAIL ALIAS",
                "DEFAULT",
                "WORKSPACE",
                "PROJECT TYPE",
                "CLIENT",
            ];
            let items = app.list_aliases(credential).await?;
            print_list(&items, format.json, &header, |a| {
                vec![
                    a.id.to_string(),
                    a.credential_id.to_string(),
                    a.email_alias.clone(),
                    if a.is_default { "default" } else { "" }.to_string(),
                    a.workspace_id.to_string(),
                    a.project_type_id.to_string(),
                    or_dash(a.client_id),
                ]
            })
        }
        AliasCommand::Add {
            credential,
            fields,
            format,
        } => {
            let raw = fields.into_raw(None)?;
            let created = app.create_alias(&actor, credential, &raw).await?;
            print_alias(&created, format.json)
        }
        AliasCommand::Show(s) => print_alias(&app.get_alias(s.id).await?, s.json),
        AliasCommand::Edit { alias, fields } => {
            let current = app.get_alias(alias.id).await?;
            let raw = fields.into_raw(Some(&current))?;
            print_alias(&app.update_alias(&actor, alias.id, &raw).await?, alias.json)
        }
        AliasCommand::Delete { id } => {
            app.delete_alias(&actor, id).await?;
            println!("Deleted alias {id}.");
            Ok(())
        }
    }
}

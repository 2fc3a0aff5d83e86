//! `mailroom workspace|project-type|client|contact …`: list, add, show, edit, delete, and
//! `import FILE` (JSON array or CSV with a header row) with a progress bar. An import is all
//! or nothing: every bad row is printed with its line number and nothing is imported.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};

use super::cli_actor;
use super::output::{print_json, print_table};
use crate::app::{
    App, ClientView, ContactView, ImportError, ImportItem, ImportReport, NamedView, kind_title,
};
use crate::domain::{RawClient, RawContact, RawNamed};
use crate::store::NamedKind;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FileFormat {
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON array of objects, or a CSV file whose header row names the fields.
    file: PathBuf,
    /// Default: from the file name (.csv is CSV, anything else JSON).
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    #[arg(long)]
    json: bool,
}

/// Workspaces and project types.
#[derive(Debug, Subcommand)]
pub enum NamedCommand {
    List {
        #[arg(long)]
        json: bool,
    },
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Rename.
    Edit {
        id: i64,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete (refused while anything uses it).
    Delete { id: i64 },
    /// Import from a file (field: name).
    Import(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    List {
        #[arg(long)]
        json: bool,
    },
    Add {
        #[command(flatten)]
        fields: ClientArgs,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    Edit {
        id: i64,
        #[command(flatten)]
        fields: ClientArgs,
        #[arg(long)]
        json: bool,
    },
    /// Delete (refused while an alias or contact uses it).
    Delete { id: i64 },
    /// Import from a file (fields: name, client_number, email_domains, default_workspace_id).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[arg(long)]
    name: Option<String>,
    /// The number written in emails as CLID=<number> ("" clears it).
    #[arg(long)]
    client_number: Option<String>,
    /// Email domains, comma-separated; replaces the list ("" clears it).
    #[arg(long)]
    email_domains: Option<String>,
    #[arg(long)]
    default_workspace: Option<i64>,
}

impl ClientArgs {
    fn into_raw(self) -> RawClient {
        RawClient {
            name: self.name,
            client_number: self
                .client_number
                .map(|n| Some(n).filter(|n| !n.is_empty())),
            email_domains: self.email_domains.map(|d| Some(split_list(&d))),
            default_workspace_id: self.default_workspace,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ContactCommand {
    List {
        #[arg(long)]
        json: bool,
    },
    Add {
        #[command(flatten)]
        fields: ContactArgs,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    Edit {
        id: i64,
        #[command(flatten)]
        fields: ContactArgs,
        #[arg(long)]
        json: bool,
    },
    Delete {
        id: i64,
    },
    /// Import from a file (fields: email, name, client_id, workspace_id).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ContactArgs {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// The contact's client id (0 clears it).
    #[arg(long)]
    client: Option<i64>,
    #[arg(long)]
    workspace: Option<i64>,
}

impl ContactArgs {
    fn into_raw(self) -> RawContact {
        RawContact {
            email: self.email,
            name: self.name,
            client_id: self.client.map(|c| Some(c).filter(|c| *c != 0)),
            workspace_id: self.workspace,
        }
    }
}

/// `a.com, b.com;c.com` → the non-empty parts.
fn split_list(s: &str) -> Vec<String> {
    s.split([',', ';', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads an import file into rows, each with the line it starts on.
pub fn read_rows(path: &Path, format: Option<FileFormat>) -> anyhow::Result<Vec<ImportItem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let format = format.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => FileFormat::Csv,
        _ => FileFormat::Json,
    });
    match format {
        FileFormat::Json => json_rows(&text).with_context(|| format!("reading {}", path.display())),
        FileFormat::Csv => csv_rows(&text).with_context(|| format!("reading {}", path.display())),
    }
}

fn json_rows(text: &str) -> anyhow::Result<Vec<ImportItem>> {
    let raws: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(text).context("the file must be a JSON array of objects")?;
    let base = text.as_ptr() as usize;
    Ok(raws
        .iter()
        .map(|raw| {
            let offset = (raw.get().as_ptr() as usize)
                .saturating_sub(base)
                .min(text.len());
            let line = text[..offset].matches('\n').count() as u64 + 1;
            ImportItem {
                line: Some(line),
                value: serde_json::from_str(raw.get()).unwrap_or(Value::Null),
                unreadable: None,
            }
        })
        .collect())
}

fn csv_rows(text: &str) -> anyhow::Result<Vec<ImportItem>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .context("the CSV file needs a header row naming the fields")?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        bail!("the CSV file needs a header row naming the fields");
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line());
                rows.push(ImportItem {
                    line,
                    value: Value::Null,
                    unreadable: Some(format!("this CSV row cannot be read: {e}")),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line());
        if record.len() != headers.len() {
            rows.push(ImportItem {
                line,
                value: Value::Null,
                unreadable: Some(format!(
                    "this CSV row has {} cells; the header has {}",
                    record.len(),
                    headers.len()
                )),
            });
            continue;
        }
        let mut object = Map::new();
        for (h, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = if h == "email_domains" {
                Value::from(split_list(cell))
            } else if h == "id" || h.ends_with("_id") {
                cell.parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(cell))
            } else {
                Value::from(cell)
            };
            object.insert(h.clone(), value);
        }
        rows.push(ImportItem {
            line,
            value: Value::Object(object),
            unreadable: None,
        });
    }
    Ok(rows)
}

/// A progress bar on standard error (hidden when it is not a terminal).
fn progress_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("Importing {what}"));
    bar
}

/// Runs an import with a progress bar and prints the outcome.
async fn import<F, Fut>(what: &str, args: ImportArgs, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Vec<ImportItem>, Box<dyn FnMut(u64, u64) + Send>) -> Fut,
    Fut: std::future::Future<Output = Result<ImportReport, ImportError>>,
{
    let rows = read_rows(&args.file, args.format)?;
    let bar = progress_bar(what);
    let b = bar.clone();
    let result = run(
        rows,
        Box::new(move |done, total| {
            b.set_length(total);
            b.set_position(done);
        }),
    )
    .await;
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            if args.json {
                print_json(&report)
            } else {
                println!(
                    "Imported {} {what} from {}.",
                    report.imported,
                    args.file.display()
                );
                Ok(())
            }
        }
        Err(ImportError::Rejected(errors)) => {
            for e in &errors {
                eprintln!("{}: {e}", args.file.display());
            }
            bail!("{}", ImportError::summary(&errors))
        }
        Err(ImportError::App(e)) => Err(e.into()),
    }
}

fn print_named(v: &NamedView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(v);
    }
    println!("{:<12} {}", "ID", v.id);
    println!("{:<12} {}", "Name", v.name);
    println!(
        "{:<12} {} by {}",
        "Updated", v.stamps.updated_at, v.stamps.updated_by
    );
    Ok(())
}

pub async fn run_named(app: &App, kind: NamedKind, cmd: NamedCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        NamedCommand::List { json } => {
            let items = app.list_named(kind).await?;
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|v| vec![v.id.to_string(), v.name.clone()])
                .collect();
            print_table(&["ID", "NAME"], &rows);
            Ok(())
        }
        NamedCommand::Add { name, json } => {
            let v = app
                .create_named(&actor, kind, &RawNamed { name: Some(name) })
                .await?;
            print_named(&v, json)
        }
        NamedCommand::Show { id, json } => print_named(&app.get_named(kind, id).await?, json),
        NamedCommand::Edit { id, name, json } => {
            let v = app
                .update_named(&actor, kind, id, &RawNamed { name: Some(name) })
                .await?;
            print_named(&v, json)
        }
        NamedCommand::Delete { id } => {
            app.delete_named(&actor, kind, id).await?;
            println!("Deleted {} {id}.", kind.label());
            Ok(())
        }
        NamedCommand::Import(args) => {
            let what = format!("{}s", kind_title(kind).to_lowercase());
            import(&what, args, |rows, progress| async move {
                app.import_named(&actor, kind, &rows, progress).await
            })
            .await
        }
    }
}

fn print_client(c: &ClientView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(c);
    }
    let rows = [
        ("ID", c.id.to_string()),
        ("Name", c.name.clone()),
        ("Client Number", c.client_number.clone().unwrap_or_default()),
        ("Email domains", c.email_domains.join(", ")),
        ("Default workspace", c.default_workspace_id.to_string()),
        (
            "Updated",
            format!("{} by {}", c.stamps.updated_at, c.stamps.updated_by),
        ),
    ];
    for (k, v) in rows {
        println!("{k:<18} {v}");
    }
    Ok(())
}

pub async fn run_client(app: &App, cmd: ClientCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        ClientCommand::List { json } => {
            let items = app.list_clients().await?;
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.name.clone(),
                        c.client_number.clone().unwrap_or_default(),
                        c.email_domains.join(","),
                        c.default_workspace_id.to_string(),
                    ]
                })
                .collect();
            print_table(&["ID", "NAME", "NUMBER", "DOMAINS", "WORKSPACE"], &rows);
            Ok(())
        }
        ClientCommand::Add { fields, json } => {
            print_client(&app.create_client(&actor, &fields.into_raw()).await?, json)
        }
        ClientCommand::Show { id, json } => print_client(&app.get_client(id).await?, json),
        ClientCommand::Edit { id, fields, json } => print_client(
            &app.update_client(&actor, id, &fields.into_raw()).await?,
            json,
        ),
        ClientCommand::Delete { id } => {
            app.delete_client(&actor, id).await?;
            println!("Deleted client {id}.");
            Ok(())
        }
        ClientCommand::Import(args) => {
            import("clients", args, |rows, progress| async move {
                app.import_clients(&actor, &rows, progress).await
            })
            .await
        }
    }
}

fn print_contact(c: &ContactView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(c);
    }
    let rows = [
        ("ID", c.id.to_string()),
        ("Email", c.email.clone()),
        ("Name", c.name.clone()),
        ("Client", c.client_id.map_or("-".into(), |c| c.to_string())),
        ("Workspace", c.workspace_id.to_string()),
        (
            "Updated",
            format!("{} by {}", c.stamps.updated_at, c.stamps.updated_by),
        ),
    ];
    for (k, v) in rows {
        println!("{k:<12} {v}");
    }
    Ok(())
}

pub async fn run_contact(app: &App, cmd: ContactCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match cmd {
        ContactCommand::List { json } => {
            let items = app.list_contacts().await?;
            if json {
                return print_json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|c| {
                    vec![
                        c.id.to_string(),
                        c.email.clone(),
                        c.name.clone(),
                        c.client_id.map_or("-".into(), |c| c.to_string()),
                        c.workspace_id.to_string(),
                    ]
                })
                .collect();
            print_table(&["ID", "EMAIL", "NAME", "CLIENT", "WORKSPACE"], &rows);
            Ok(())
        }
        ContactCommand::Add { fields, json } => {
            print_contact(&app.create_contact(&actor, &fields.into_raw()).await?, json)
        }
        ContactCommand::Show { id, json } => print_contact(&app.get_contact(id).await?, json),
        ContactCommand::Edit { id, fields, json } => print_contact(
            &app.update_contact(&actor, id, &fields.into_raw()).await?,
            json,
        ),
        ContactCommand::Delete { id } => {
            app.delete_contact(&actor, id).await?;
            println!("Deleted contact {id}.");
            Ok(())
        }
        ContactCommand::Import(args) => {
            import("contacts", args, |rows, progress| async move {
                app.import_contacts(&actor, &rows, progress).await
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_know_their_lines() {
        let rows = json_rows("[\n  {\"name\": \"a\"},\n\n  {\"name\": \"b\"}\n]").unwrap();
        let lines: Vec<_> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [Some(2), Some(4)]);
        assert_eq!(rows[1].value["name"], "b");
    }

    #[test]
    fn csv_rows_know_their_lines_and_types() {
        let rows = csv_rows(
            "name,client_number,email_domains,default_workspace_id\nAcme,AC1,acme.com;acme.org,3\n\"Multi\nline\",,,x\nShort,1\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, Some(2));
        assert_eq!(rows[0].value["email_domains"][1], "acme.org");
        assert_eq!(rows[0].value["default_workspace_id"], 3);
        assert_eq!(rows[1].line, Some(3));
        assert_eq!(rows[1].value["default_workspace_id"], "x");
        assert!(rows[1].value.get("client_number").is_none());
        assert_eq!(rows[2].line, Some(5));
        assert!(rows[2].unreadable.is_some());
    }
}

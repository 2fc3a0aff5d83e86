//! `mailroom workspace|project-type|client|contact …`: one command per kind of record
//! (`domain::visit_records`), built from its spec: list, add, show, edit, delete, and
//! `import FILE` (JSON array or CSV with a header row) with a progress bar. An import is all
//! or nothing: every bad row is printed with its line number and nothing is imported.
//!
//! Owns the flags (one per field: `--client-number`; a reference without its `_id`:
//! `--default-workspace`) and printing. Must not hold business rules: every command calls `app`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use anyhow::{Context, bail};
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use super::cli_actor;
use super::output::{advance, print_fields, print_list, print_one, progress_bar};
use crate::app::{App, ImportError, ImportItem, ImportReport, RecordView, iso_time};
use crate::domain::{Field, Kind, Record, Spec, Visit, record_specs, split_list, visit_records};

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

/// A command on one kind of record, as parsed.
#[derive(Debug)]
pub struct RecordCommand {
    spec: &'static Spec,
    action: Action,
}

#[derive(Debug)]
enum Action {
    List {
        json: bool,
    },
    Add {
        form: Map<String, Value>,
        json: bool,
    },
    Show {
        id: i64,
        json: bool,
    },
    Edit {
        id: i64,
        form: Map<String, Value>,
        json: bool,
    },
    Delete {
        id: i64,
    },
    Import(ImportArgs),
}

/// clap wants `'static` names; these few are made once per run.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// "project-type".
fn command_name(spec: &Spec) -> String {
    spec.label.replace(' ', "-")
}

/// `--client-number`; a reference without its `_id`: `--default-workspace`.
fn flag(f: &Field) -> String {
    f.name
        .strip_suffix("_id")
        .unwrap_or(f.name)
        .replace('_', "-")
}

fn field_args(spec: &Spec) -> Vec<Arg> {
    let args = spec.fields.iter().map(|f| {
        let flag = flag(f);
        let value = leak(flag.to_uppercase().replace('-', "_"));
        let arg = Arg::new(f.name).long(leak(flag)).value_name(value);
        let clears = if f.required { "" } else { " (\"\" clears it)" };
        match f.kind {
            Kind::Ref(to) => {
                let clears = if f.required { "" } else { " (0 clears it)" };
                let help = format!("The id of {}{clears}", to.a());
                arg.value_parser(clap::value_parser!(i64)).help(help)
            }
            Kind::List { .. } => arg.help(format!(
                "{}, comma-separated; replaces the list{clears}",
                f.label
            )),
            _ if f.hint.is_empty() => arg.help(format!("{}{clears}", f.label)),
            _ => arg.help(format!("{}: {}{clears}", f.label, f.hint)),
        }
    });
    args.collect()
}

fn noun_command(spec: &'static Spec) -> clap::Command {
    let json = || {
        let json = Arg::new("json").long("json").action(ArgAction::SetTrue);
        json.help("Print JSON")
    };
    let id = || {
        let id = Arg::new("id").value_name("ID").required(true);
        id.value_parser(clap::value_parser!(i64))
    };
    let command = |name: &'static str, about: String| clap::Command::new(name).about(about);
    let (one, all) = (spec.a(), spec.plural);
    let names: Vec<&str> = spec.fields.iter().map(|f| f.name).collect();
    let import = format!("Import {all} from a file (fields: {})", names.join(", "));
    clap::Command::new(leak(command_name(spec)))
        .about(spec.about)
        .subcommand_required(true)
        .subcommand(command("list", format!("List the {all}")).arg(json()))
        .subcommand(
            command("add", format!("Add {one}"))
                .args(field_args(spec))
                .arg(json()),
        )
        .subcommand(command("show", format!("Show {one}")).arg(id()).arg(json()))
        .subcommand(
            command(
                "edit",
                format!("Edit {one}: the fields given change, the others are kept"),
            )
            .arg(id())
            .args(field_args(spec))
            .arg(json()),
        )
        .subcommand(
            command(
                "delete",
                format!("Delete {one} (refused while anything uses it)"),
            )
            .arg(id()),
        )
        .subcommand(ImportArgs::augment_args(command("import", import)))
}

/// The form the flags give: absent flags are absent (an edit keeps those fields); an empty
/// optional text and a 0 optional reference are null (cleared).
fn form_of(spec: &Spec, m: &ArgMatches) -> Map<String, Value> {
    let mut form = Map::new();
    for f in spec.fields {
        let value = match f.kind {
            Kind::Ref(_) => match m.try_get_one::<i64>(f.name).ok().flatten() {
                None => continue,
                Some(0) if !f.required => Value::Null,
                Some(id) => json!(id),
            },
            _ => match m.try_get_one::<String>(f.name).ok().flatten() {
                None => continue,
                Some(s) if matches!(f.kind, Kind::List { .. }) => json!(split_list(s)),
                Some(s) if s.is_empty() && !f.required => Value::Null,
                Some(s) => json!(s),
            },
        };
        form.insert(f.name.to_string(), value);
    }
    form
}

impl FromArgMatches for RecordCommand {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let missing = || clap::Error::new(ErrorKind::MissingSubcommand);
        let (name, m) = m.subcommand().ok_or_else(missing)?;
        let spec = record_specs()
            .into_iter()
            .find(|s| command_name(s) == name)
            .ok_or_else(|| clap::Error::new(ErrorKind::InvalidSubcommand))?;
        let (action, m) = m.subcommand().ok_or_else(missing)?;
        let json = || m.try_get_one::<bool>("json").ok().flatten() == Some(&true);
        let id = || {
            m.try_get_one::<i64>("id")
                .ok()
                .flatten()
                .copied()
                .unwrap_or(0)
        };
        let action = match action {
            "list" => Action::List { json: json() },
            "add" => Action::Add {
                form: form_of(spec, m),
                json: json(),
            },
            "show" => Action::Show {
                id: id(),
                json: json(),
            },
            "edit" => Action::Edit {
                id: id(),
                form: form_of(spec, m),
                json: json(),
            },
            "delete" => Action::Delete { id: id() },
            "import" => Action::Import(ImportArgs::from_arg_matches(m)?),
            _ => return Err(clap::Error::new(ErrorKind::InvalidSubcommand)),
        };
        Ok(Self { spec, action })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Subcommand for RecordCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        record_specs()
            .into_iter()
            .fold(cmd, |cmd, spec| cmd.subcommand(noun_command(spec)))
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        record_specs().iter().any(|s| command_name(s) == name)
    }
}

/// Reads an import file into rows, each with the line it starts on.
pub fn read_rows(
    spec: &Spec,
    path: &Path,
    format: Option<FileFormat>,
) -> anyhow::Result<Vec<ImportItem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let format = format.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => FileFormat::Csv,
        _ => FileFormat::Json,
    });
    match format {
        FileFormat::Json => json_rows(&text).with_context(|| format!("reading {}", path.display())),
        FileFormat::Csv => {
            csv_rows(spec, &text).with_context(|| format!("reading {}", path.display()))
        }
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

fn csv_rows(spec: &Spec, text: &str) -> anyhow::Result<Vec<ImportItem>> {
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
            let kind = spec.field(h).map(|f| f.kind);
            let value = if matches!(kind, Some(Kind::List { .. })) {
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

/// Runs an import with a progress bar and prints the outcome.
async fn import<F, Fut>(spec: &Spec, args: ImportArgs, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Vec<ImportItem>, Box<dyn FnMut(u64, u64) + Send>) -> Fut,
    Fut: std::future::Future<Output = Result<ImportReport, ImportError>>,
{
    let rows = read_rows(spec, &args.file, args.format)?;
    let bar = progress_bar("{msg} [{bar:40}] {pos}/{len} ({elapsed})");
    bar.set_message(format!("Importing {}", spec.plural));
    let b = bar.clone();
    let result = run(rows, Box::new(move |done, total| advance(&b, done, total))).await;
    bar.finish_and_clear();
    match result {
        Ok(report) => print_one(&report, args.json, |report| {
            let file = args.file.display();
            println!("Imported {} {} from {file}.", report.imported, spec.plural)
        }),
        Err(ImportError::Rejected(errors)) => {
            for e in &errors {
                eprintln!("{}: {e}", args.file.display());
            }
            bail!("{}", ImportError::summary(&errors))
        }
        Err(ImportError::App(e)) => Err(e.into()),
    }
}

/// A field as a person reads it; "-" for none.
fn shown(v: &crate::domain::Value) -> String {
    let s = v.shown();
    if s.is_empty() { "-".to_string() } else { s }
}

fn print_record(v: &RecordView, json: bool) -> anyhow::Result<()> {
    print_one(v, json, |RecordView(r)| {
        let mut rows = vec![("ID", r.id.to_string())];
        let fields = r.spec.fields.iter().zip(&r.values);
        rows.extend(fields.map(|(f, value)| (f.label, shown(value))));
        let updated = iso_time(r.stamps.updated_at);
        rows.push(("Updated", format!("{updated} by {}", r.stamps.updated_by)));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        print_fields(width, &rows);
    })
}

fn print_records(spec: &Spec, items: &[RecordView], json: bool) -> anyhow::Result<()> {
    let labels: Vec<String> = spec.fields.iter().map(|f| f.label.to_uppercase()).collect();
    let mut header = vec!["ID"];
    header.extend(labels.iter().map(String::as_str));
    print_list(items, json, &header, |RecordView(r)| {
        let mut row = vec![r.id.to_string()];
        row.extend(r.values.iter().map(shown));
        row
    })
}

/// Runs a command of the kind of record it names.
pub async fn run(app: &App, cmd: RecordCommand) -> anyhow::Result<()> {
    type Run<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;
    struct Pick<'a> {
        app: &'a App,
        cmd: Option<RecordCommand>,
        run: Option<Run<'a>>,
    }
    impl Visit for Pick<'_> {
        fn record<R: Record>(&mut self) {
            if let Some(cmd) = self.cmd.take_if(|c| c.spec.noun == R::SPEC.noun) {
                self.run = Some(Box::pin(run_record::<R>(self.app, cmd.action)));
            }
        }
    }
    let mut pick = Pick {
        app,
        cmd: Some(cmd),
        run: None,
    };
    visit_records(&mut pick);
    match pick.run {
        Some(run) => run.await,
        None => bail!("no such kind of record"),
    }
}

fn form<R: Record>(form: Map<String, Value>) -> anyhow::Result<R::Raw> {
    serde_json::from_value(form.into()).with_context(|| format!("the {} form", R::SPEC.label))
}

async fn run_record<R: Record>(app: &App, action: Action) -> anyhow::Result<()> {
    let spec = R::SPEC;
    let actor = cli_actor();
    match action {
        Action::List { json } => print_records(spec, &app.list_records(spec).await?, json),
        Action::Add { form: f, json } => {
            print_record(&app.create_record::<R>(&actor, &form::<R>(f)?).await?, json)
        }
        Action::Show { id, json } => print_record(&app.get_record(spec, id).await?, json),
        Action::Edit { id, form: f, json } => print_record(
            &app.update_record::<R>(&actor, id, &form::<R>(f)?).await?,
            json,
        ),
        Action::Delete { id } => {
            app.delete_record(spec, &actor, id).await?;
            println!("Deleted {} {id}.", spec.label);
            Ok(())
        }
        Action::Import(args) => {
            import(spec, args, |rows, progress| async move {
                app.import_records::<R>(&actor, &rows, progress).await
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
            crate::domain::Client::SPEC,
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

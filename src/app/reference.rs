//! Reference data use cases, one generic path for every kind of record (`domain::Record`):
//! list, show, create, edit (absent fields kept, null clears), delete, and bulk import (every
//! bad row reported, nothing imported unless every row is good). At the end, typed look-ups
//! for aliases and the pages that show names.
//!
//! Owns the checks that need the database (references exist, unique values are free) and the
//! audit entries. Must not know where a form or an import came from (JSON body, HTML form, CLI
//! flags, CSV file): callers hand over the domain form or rows.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde_json::{Map, json};

use super::{App, AppError, AppResult, StoreResultExt, iso_time};
use crate::domain::{
    Client, Field, Form, Kind, ProjectType, Record, Spec, ValidationError, ValidationErrors, Value,
    Workspace, capitalised,
};
use crate::store::{AuditEntry, ClientRow, ContactRow, NamedKind, NamedRow, RecordRow, StoreError};

/// A record for output: `id`, its fields by name, then who made and last changed it (times in
/// RFC 3339).
#[derive(Debug, Clone)]
pub struct RecordView(pub RecordRow);

impl Serialize for RecordView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (r, mut m) = (&self.0, s.serialize_map(None)?);
        m.serialize_entry("id", &r.id)?;
        for (f, v) in r.spec.fields.iter().zip(&r.values) {
            m.serialize_entry(f.name, v)?;
        }
        m.serialize_entry("created_at", &iso_time(r.stamps.created_at))?;
        m.serialize_entry("created_by", &r.stamps.created_by)?;
        m.serialize_entry("updated_at", &iso_time(r.stamps.updated_at))?;
        m.serialize_entry("updated_by", &r.stamps.updated_by)?;
        m.end()
    }
}

/// One row of an import: its JSON value and, for files, the line it starts on. A row the
/// reader could not make sense of carries why in `unreadable` (and is reported, not imported).
#[derive(Debug, Clone, Default)]
pub struct ImportItem {
    pub line: Option<u64>,
    pub value: serde_json::Value,
    pub unreadable: Option<String>,
}

/// One broken rule in one row. `row` counts from 1.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowError {
    pub row: usize,
    pub line: Option<u64>,
    pub field: String,
    pub rule: String,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: ")?,
            None => write!(f, "row {}: ", self.row)?,
        }
        write!(f, "{}: {} ({})", self.field, self.message, self.rule)
    }
}

/// Why an import imported nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", ImportError::summary(.0))]
    Rejected(Vec<RowError>),
    #[error(transparent)]
    App(#[from] AppError),
}

impl ImportError {
    /// The message for people: how many rows are bad.
    pub fn summary(errors: &[RowError]) -> String {
        let rows: HashSet<usize> = errors.iter().map(|e| e.row).collect();
        format!(
            "{} of the rows {} errors; nothing was imported.",
            rows.len(),
            if rows.len() == 1 { "has" } else { "have" }
        )
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub imported: usize,
    pub ids: Vec<i64>,
}

/// Collects row errors during an import.
#[derive(Default)]
struct Rows {
    errors: Vec<RowError>,
}

impl Rows {
    fn push(&mut self, item: &ImportItem, row: usize, field: &str, rule: &str, message: String) {
        self.errors.push(RowError {
            row,
            line: item.line,
            field: field.to_string(),
            rule: rule.to_string(),
            message,
        });
    }

    fn validation(&mut self, item: &ImportItem, row: usize, errors: &ValidationErrors) {
        for e in &errors.0 {
            self.push(item, row, e.field, e.rule, e.message.clone());
        }
    }

    /// Deserialises one row; wrong shapes become row errors.
    fn raw<T: DeserializeOwned>(&mut self, item: &ImportItem, row: usize) -> Option<T> {
        if let Some(why) = &item.unreadable {
            self.push(item, row, "", "unreadable", why.clone());
            return None;
        }
        match serde_path_to_error::deserialize::<_, T>(item.value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let text = e.into_inner().to_string();
                let (field, rule) = match text.strip_prefix("unknown field `") {
                    Some(rest) => (
                        rest.split('`').next().unwrap_or("").to_string(),
                        "unknown_field",
                    ),
                    None => (path, "invalid_type"),
                };
                self.push(item, row, &field, rule, format!("{text}."));
                None
            }
        }
    }
}

fn not_found(field: &'static str, to: &Spec, id: i64) -> ValidationError {
    let message = format!("{} {id} does not exist.", to.title());
    ValidationError::new(field, "not_found", message)
}

/// How a unique field names one value: "Client Number", "the email domain".
fn one_value(f: &Field) -> &'static str {
    f.unique.unwrap_or(f.label)
}

/// The refusal of a unique value another record has.
fn taken(spec: &Spec, f: &Field, value: &str, other: (&str, i64)) -> String {
    let (title, id) = other;
    let names_it = spec.fields.first().is_some_and(|t| t.name == f.name);
    let who = if names_it {
        format!("id {id}")
    } else {
        format!("{title:?}, id {id}")
    };
    format!(
        "{} with {} {value:?} already exists ({who}); compared without regard to case.",
        capitalised(&spec.a()),
        one_value(f)
    )
}

/// The audit details of a new record: every field.
fn details(spec: &Spec, values: &[Value]) -> serde_json::Value {
    let fields = spec.fields.iter().zip(values);
    let map: Map<String, serde_json::Value> = fields
        .map(|(f, v)| (f.name.to_string(), json!(v)))
        .collect();
    map.into()
}

/// The audit details of an edit: each changed field, from and to.
fn changes(spec: &Spec, from: &[Value], to: &[Value]) -> serde_json::Value {
    let fields = spec.fields.iter().zip(from.iter().zip(to));
    let map: Map<String, serde_json::Value> = fields
        .filter(|(_, (a, b))| a != b)
        .map(|(f, (a, b))| (f.name.to_string(), json!({"from": a, "to": b})))
        .collect();
    map.into()
}

/// The form of a stored record with an edit laid over it: the fields the edit gives replace
/// the stored ones (null clears).
fn edited<R: Record>(current: &RecordRow, edit: &R::Raw) -> AppResult<R::Raw> {
    let fields = current.spec.fields.iter().zip(&current.values);
    let mut form: Map<String, serde_json::Value> = fields
        .map(|(f, v)| (f.name.to_string(), json!(v)))
        .collect();
    if let Ok(serde_json::Value::Object(given)) = serde_json::to_value(edit) {
        form.extend(given);
    }
    serde_json::from_value(form.into()).map_err(|e| {
        let what = format!("{} {} in the database", current.spec.label, current.id);
        AppError::Other(anyhow::anyhow!("{what} does not read as a form: {e}"))
    })
}

impl App {
    pub async fn list_records(&self, spec: &'static Spec) -> AppResult<Vec<RecordView>> {
        let rows = self.store.list_records(spec).await.app_err(spec.label)?;
        Ok(rows.into_iter().map(RecordView).collect())
    }

    pub async fn get_record(&self, spec: &'static Spec, id: i64) -> AppResult<RecordView> {
        let row = self.store.get_record(spec, id).await.app_err(spec.label)?;
        Ok(RecordView(row))
    }

    pub async fn create_record<R: Record>(
        &self,
        actor: &str,
        raw: &R::Raw,
    ) -> AppResult<RecordView> {
        let spec = R::SPEC;
        let values = raw.check()?;
        self.check_stored(spec, &values, None).await?;
        let title = values.first().map(Value::shown).unwrap_or_default();
        let audit = AuditEntry::new(actor, spec.actions[0], spec.noun)
            .summary(format!("created {} {title:?}", spec.label))
            .details(details(spec, &values));
        let ids = self
            .store
            .insert_records(spec, std::slice::from_ref(&values), audit, |_, _| {})
            .await
            .app_err(spec.label)?;
        match ids.first() {
            Some(id) => self.get_record(spec, *id).await,
            None => Err(AppError::NotFound(spec.label)),
        }
    }

    pub async fn update_record<R: Record>(
        &self,
        actor: &str,
        id: i64,
        edit: &R::Raw,
    ) -> AppResult<RecordView> {
        let spec = R::SPEC;
        let current = self.store.get_record(spec, id).await.app_err(spec.label)?;
        let values = edited::<R>(&current, edit)?.check()?;
        self.check_stored(spec, &values, Some(id)).await?;
        let audit = AuditEntry::new(actor, spec.actions[1], spec.noun)
            .summary(format!("edited {} {:?}", spec.label, current.title()))
            .details(changes(spec, &current.values, &values));
        let row = self.store.update_record(spec, id, &values, audit).await;
        Ok(RecordView(row.app_err(spec.label)?))
    }

    /// Deletes a record nothing uses; a conflict names what still uses it.
    pub async fn delete_record(&self, spec: &'static Spec, actor: &str, id: i64) -> AppResult<()> {
        let current = self.get_record(spec, id).await?;
        // Aliases fall back on the built-in project type: it stays.
        if spec.noun == ProjectType::SPEC.noun && self.default_project_type_id().await? == Some(id)
        {
            return Err(AppError::Conflict {
                field: None,
                message: format!(
                    "{:?} is the built-in project type, the default of aliases given none; it \
                     cannot be deleted (it may be renamed, and stays the default).",
                    current.0.title()
                ),
            });
        }
        let audit = AuditEntry::new(actor, spec.actions[2], spec.noun).summary(format!(
            "deleted {} {:?}",
            spec.label,
            current.0.title()
        ));
        self.store
            .delete_record(spec, id, audit)
            .await
            .app_err(spec.label)
    }

    /// The rules that need the database: every reference names an existing record, and every
    /// unique value is free (`own` is the record being edited).
    async fn check_stored(
        &self,
        spec: &'static Spec,
        values: &[Value],
        own: Option<i64>,
    ) -> AppResult<()> {
        let mut missing = Vec::new();
        for (f, v) in spec.fields.iter().zip(values) {
            if let (Kind::Ref(to), Some(id)) = (f.kind, v.as_id()) {
                missing.extend(self.missing(f.name, to, id).await?);
            }
        }
        if !missing.is_empty() {
            return Err(ValidationErrors(missing).into());
        }
        for (f, v) in spec.fields.iter().zip(values) {
            if f.unique.is_none() {
                continue;
            }
            for (_, shown) in v.keys() {
                let found = self.store.find_record(spec, f, &shown).await;
                if let Some(other) = found.app_err(spec.label)?
                    && Some(other.id) != own
                {
                    return Err(AppError::Conflict {
                        field: Some(f.name),
                        message: taken(spec, f, &shown, (&other.title(), other.id)),
                    });
                }
            }
        }
        Ok(())
    }

    /// The error for `field` when no `to` record has this id.
    async fn missing(
        &self,
        field: &'static str,
        to: &'static Spec,
        id: i64,
    ) -> AppResult<Option<ValidationError>> {
        match self.store.get_record(to, id).await {
            Ok(_) => Ok(None),
            Err(StoreError::NotFound) => Ok(Some(not_found(field, to, id))),
            Err(e) => Err(e).app_err(to.label),
        }
    }

    /// Imports records: all or nothing. Each row is checked like a form, against the stored
    /// records and against the rows before it.
    pub async fn import_records<R: Record>(
        &self,
        actor: &str,
        items: &[ImportItem],
        progress: impl FnMut(u64, u64),
    ) -> Result<ImportReport, ImportError> {
        let spec = R::SPEC;
        let mut ids: HashMap<&str, HashSet<i64>> = HashMap::new();
        for f in spec.fields {
            if let Kind::Ref(to) = f.kind {
                let rows = self.store.list_records(to).await.app_err(to.label)?;
                ids.insert(to.noun, rows.iter().map(|r| r.id).collect());
            }
        }
        // (field index, key) → the record that has it, or the first row of the import.
        let mut stored: HashMap<(usize, String), (String, i64)> = HashMap::new();
        for r in self.store.list_records(spec).await.app_err(spec.label)? {
            let fields = spec.fields.iter().zip(&r.values).enumerate();
            for (at, (_, v)) in fields.filter(|(_, (f, _))| f.unique.is_some()) {
                for (k, _) in v.keys() {
                    stored.insert((at, k), (r.title(), r.id));
                }
            }
        }
        let mut seen: HashMap<(usize, String), usize> = HashMap::new();
        let mut rows = Rows::default();
        let mut good = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let row = i + 1;
            let Some(raw) = rows.raw::<R::Raw>(item, row) else {
                continue;
            };
            let values = match raw.check() {
                Ok(v) => v,
                Err(e) => {
                    rows.validation(item, row, &e);
                    continue;
                }
            };
            let before = rows.errors.len();
            for (f, v) in spec.fields.iter().zip(&values) {
                if let (Kind::Ref(to), Some(id)) = (f.kind, v.as_id())
                    && !ids.get(to.noun).is_some_and(|known| known.contains(&id))
                {
                    rows.validation(item, row, &not_found(f.name, to, id).into());
                }
            }
            for (at, (f, v)) in spec.fields.iter().zip(&values).enumerate() {
                if f.unique.is_none() {
                    continue;
                }
                for (k, shown) in v.keys() {
                    if let Some((title, id)) = stored.get(&(at, k.clone())) {
                        let message = taken(spec, f, &shown, (title, *id));
                        rows.push(item, row, f.name, "conflict", message);
                    } else if let Some(first) = seen.get(&(at, k.clone())) {
                        let message = format!(
                            "{} {shown:?} is also on row {first} of this import.",
                            capitalised(one_value(f))
                        );
                        rows.push(item, row, f.name, "duplicate", message);
                    } else {
                        seen.insert((at, k), row);
                    }
                }
            }
            if rows.errors.len() == before {
                good.push(values);
            }
        }
        if !rows.errors.is_empty() {
            return Err(ImportError::Rejected(rows.errors));
        }
        let audit = AuditEntry::new(actor, spec.actions[3], spec.noun)
            .summary(format!("imported {} {}", good.len(), spec.plural))
            .details(json!({"count": good.len()}));
        let ids = self
            .store
            .insert_records(spec, &good, audit, progress)
            .await;
        let ids = ids.app_err(spec.label)?;
        Ok(ImportReport {
            imported: ids.len(),
            ids,
        })
    }

    // ---- typed look-ups ----

    pub async fn list_named(&self, kind: NamedKind) -> AppResult<Vec<NamedView>> {
        let rows = self.store.list_records(kind.spec()).await;
        Ok(rows
            .app_err(kind.spec().label)?
            .into_iter()
            .map(NamedRow::from)
            .collect())
    }

    pub async fn get_named(&self, kind: NamedKind, id: i64) -> AppResult<NamedView> {
        self.store
            .get_named(kind, id)
            .await
            .app_err(kind.spec().label)
    }

    pub async fn list_clients(&self) -> AppResult<Vec<ClientRow>> {
        let rows = self
            .store
            .list_records(Client::SPEC)
            .await
            .app_err("client")?;
        Ok(rows.into_iter().map(ClientRow::from).collect())
    }

    pub async fn get_client(&self, id: i64) -> AppResult<ClientRow> {
        self.store.get_client(id).await.app_err("client")
    }

    pub async fn get_contact(&self, id: i64) -> AppResult<ContactRow> {
        self.store.get_contact(id).await.app_err("contact")
    }

    /// The project type new aliases get when none is given: the built-in one, found by its
    /// mark, so it stays the default when renamed.
    pub(crate) async fn default_project_type_id(&self) -> AppResult<Option<i64>> {
        let found = self.store.built_in_project_type().await;
        found.app_err(ProjectType::SPEC.label)
    }

    /// Checks that referenced rows exist; one error per missing reference.
    pub(crate) async fn check_references(
        &self,
        workspace: Option<(&'static str, i64)>,
        project_type: Option<(&'static str, i64)>,
        client: Option<(&'static str, i64)>,
    ) -> AppResult<Vec<ValidationError>> {
        let refs = [
            (workspace, Workspace::SPEC),
            (project_type, ProjectType::SPEC),
            (client, Client::SPEC),
        ];
        let mut errors = Vec::new();
        for (given, to) in refs {
            if let Some((field, id)) = given {
                errors.extend(self.missing(field, to, id).await?);
            }
        }
        Ok(errors)
    }
}

/// A workspace or project type, for the pages that pick one by name.
pub type NamedView = NamedRow;

//! Reference data use cases: CRUD for workspaces, project types, clients and contacts, and
//! bulk import (every bad row reported, nothing imported unless every row is good).
//!
//! Owns the checks that need the database (references exist, names and numbers are free).
//! Must not know where an import came from (JSON body, CSV file): callers hand over rows.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{App, AppError, AppResult, iso_time};
use crate::domain::{
    ClientFields, ContactFields, RawClient, RawContact, RawNamed, RefName, ValidationError,
    ValidationErrors,
};
use crate::store::{AuditEntry, ClientRow, ContactRow, NamedKind, NamedRow, Stamps, StoreError};

/// Who made and last changed a row, for output.
#[derive(Debug, Clone, Serialize)]
pub struct StampsView {
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl From<&Stamps> for StampsView {
    fn from(s: &Stamps) -> Self {
        Self {
            created_at: iso_time(s.created_at),
            created_by: s.created_by.clone(),
            updated_at: iso_time(s.updated_at),
            updated_by: s.updated_by.clone(),
        }
    }
}

/// A workspace or project type.
#[derive(Debug, Clone, Serialize)]
pub struct NamedView {
    pub id: i64,
    pub name: String,
    #[serde(flatten)]
    pub stamps: StampsView,
}

impl From<&NamedRow> for NamedView {
    fn from(r: &NamedRow) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            stamps: (&r.stamps).into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientView {
    pub id: i64,
    pub name: String,
    pub client_number: Option<String>,
    pub email_domains: Vec<String>,
    pub default_workspace_id: i64,
    #[serde(flatten)]
    pub stamps: StampsView,
}

impl From<&ClientRow> for ClientView {
    fn from(r: &ClientRow) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            client_number: r.client_number.clone(),
            email_domains: r.email_domains.clone(),
            default_workspace_id: r.default_workspace_id,
            stamps: (&r.stamps).into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub client_id: Option<i64>,
    pub workspace_id: i64,
    #[serde(flatten)]
    pub stamps: StampsView,
}

impl From<&ContactRow> for ContactView {
    fn from(r: &ContactRow) -> Self {
        Self {
            id: r.id,
            email: r.email.clone(),
            name: r.name.clone(),
            client_id: r.client_id,
            workspace_id: r.workspace_id,
            stamps: (&r.stamps).into(),
        }
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
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub ids: Vec<i64>,
}

/// Collects row errors during an import.
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

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn not_found(field: &'static str, label: &str, id: i64) -> ValidationError {
    ValidationError::new(field, "not_found", format!("{label} {id} does not exist."))
}

impl App {
    // ---- workspaces and project types ----

    pub async fn list_named(&self, kind: NamedKind) -> AppResult<Vec<NamedView>> {
        let rows = self
            .store
            .list_named(kind)
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))?;
        Ok(rows.iter().map(NamedView::from).collect())
    }

    pub async fn get_named(&self, kind: NamedKind, id: i64) -> AppResult<NamedView> {
        self.store
            .get_named(kind, id)
            .await
            .map(|r| NamedView::from(&r))
            .map_err(|e| AppError::from_store(e, kind.label()))
    }

    fn name_taken(kind: NamedKind, existing: &NamedRow) -> AppError {
        AppError::Conflict {
            field: Some("name"),
            message: format!(
                "A {} named {:?} already exists (id {}); names are compared without regard to case.",
                kind.label(),
                existing.name,
                existing.id
            ),
        }
    }

    pub async fn create_named(
        &self,
        actor: &str,
        kind: NamedKind,
        raw: &RawNamed,
    ) -> AppResult<NamedView> {
        let name = RefName::parse(raw.name.as_deref(), "name", "Name")?;
        if let Some(existing) = self
            .store
            .find_named(kind, &name.key())
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))?
        {
            return Err(Self::name_taken(kind, &existing));
        }
        let audit = AuditEntry::new(actor, create_action(kind), kind.noun())
            .summary(format!("created {} {:?}", kind.label(), name.as_str()))
            .details(json!({"name": name.as_str()}));
        let ids = self
            .store
            .insert_named(kind, std::slice::from_ref(&name), audit, |_, _| {})
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))?;
        self.get_named(kind, ids[0]).await
    }

    pub async fn update_named(
        &self,
        actor: &str,
        kind: NamedKind,
        id: i64,
        raw: &RawNamed,
    ) -> AppResult<NamedView> {
        let current = self.get_named(kind, id).await?;
        let name = match &raw.name {
            Some(n) => RefName::parse(Some(n), "name", "Name")?,
            None => RefName::parse(Some(&current.name), "name", "Name")?,
        };
        if let Some(existing) = self
            .store
            .find_named(kind, &name.key())
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))?
            && existing.id != id
        {
            return Err(Self::name_taken(kind, &existing));
        }
        let audit = AuditEntry::new(actor, update_action(kind), kind.noun())
            .summary(format!("renamed {} {:?}", kind.label(), current.name))
            .details(json!({"name": {"from": current.name, "to": name.as_str()}}));
        self.store
            .update_named(kind, id, &name, audit)
            .await
            .map(|r| NamedView::from(&r))
            .map_err(|e| AppError::from_store(e, kind.label()))
    }

    pub async fn delete_named(&self, actor: &str, kind: NamedKind, id: i64) -> AppResult<()> {
        let current = self.get_named(kind, id).await?;
        let audit = AuditEntry::new(actor, delete_action(kind), kind.noun()).summary(format!(
            "deleted {} {:?}",
            kind.label(),
            current.name
        ));
        self.store
            .delete_named(kind, id, audit)
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))
    }

    /// Imports names: all or nothing.
    pub async fn import_named(
        &self,
        actor: &str,
        kind: NamedKind,
        items: &[ImportItem],
        progress: impl FnMut(u64, u64),
    ) -> Result<ImportReport, ImportError> {
        let existing: HashMap<String, NamedRow> = self
            .store
            .list_named(kind)
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))?
            .into_iter()
            .map(|r| (r.name.to_lowercase(), r))
            .collect();
        let mut rows = Rows { errors: Vec::new() };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut names = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let row = i + 1;
            let Some(raw) = rows.raw::<RawNamed>(item, row) else {
                continue;
            };
            match RefName::parse(raw.name.as_deref(), "name", "Name") {
                Err(e) => rows.validation(item, row, &e.into()),
                Ok(name) => {
                    if let Some(r) = existing.get(&name.key()) {
                        rows.push(
                            item,
                            row,
                            "name",
                            "conflict",
                            format!(
                                "A {} named {:?} already exists (id {}).",
                                kind.label(),
                                r.name,
                                r.id
                            ),
                        );
                    } else if let Some(first) = seen.get(&name.key()) {
                        rows.push(
                            item,
                            row,
                            "name",
                            "duplicate",
                            format!(
                                "The name {:?} is also on row {first} of this import.",
                                name.as_str()
                            ),
                        );
                    } else {
                        seen.insert(name.key(), row);
                        names.push(name);
                    }
                }
            }
        }
        if !rows.errors.is_empty() {
            return Err(ImportError::Rejected(rows.errors));
        }
        let audit = AuditEntry::new(actor, import_action(kind), kind.noun())
            .summary(format!("imported {} {}s", names.len(), kind.label()))
            .details(json!({"count": names.len()}));
        let ids = self
            .store
            .insert_named(kind, &names, audit, progress)
            .await
            .map_err(|e| AppError::from_store(e, kind.label()))?;
        Ok(ImportReport {
            imported: ids.len(),
            ids,
        })
    }

    /// The project type new aliases get when none is given.
    pub(crate) async fn default_project_type_id(&self) -> AppResult<Option<i64>> {
        Ok(self
            .store
            .find_named(NamedKind::ProjectType, "client service case")
            .await
            .map_err(|e| AppError::from_store(e, "project type"))?
            .map(|r| r.id))
    }

    /// Checks that referenced rows exist; one error per missing reference.
    pub(crate) async fn check_references(
        &self,
        workspace: Option<(&'static str, i64)>,
        project_type: Option<(&'static str, i64)>,
        client: Option<(&'static str, i64)>,
    ) -> AppResult<Vec<ValidationError>> {
        let mut errors = Vec::new();
        if let Some((field, id)) = workspace {
            match self.store.get_named(NamedKind::Workspace, id).await {
                Err(StoreError::NotFound) => errors.push(not_found(field, "Workspace", id)),
                Err(e) => return Err(AppError::from_store(e, "workspace")),
                Ok(_) => {}
            }
        }
        if let Some((field, id)) = project_type {
            match self.store.get_named(NamedKind::ProjectType, id).await {
                Err(StoreError::NotFound) => errors.push(not_found(field, "Project Type", id)),
                Err(e) => return Err(AppError::from_store(e, "project type")),
                Ok(_) => {}
            }
        }
        if let Some((field, id)) = client {
            match self.store.get_client(id).await {
                Err(StoreError::NotFound) => errors.push(not_found(field, "Client", id)),
                Err(e) => return Err(AppError::from_store(e, "client")),
                Ok(_) => {}
            }
        }
        Ok(errors)
    }

    // ---- clients ----

    pub async fn list_clients(&self) -> AppResult<Vec<ClientView>> {
        let rows = self
            .store
            .list_clients()
            .await
            .map_err(|e| AppError::from_store(e, "client"))?;
        Ok(rows.iter().map(ClientView::from).collect())
    }

    pub async fn get_client(&self, id: i64) -> AppResult<ClientView> {
        self.store
            .get_client(id)
            .await
            .map(|r| ClientView::from(&r))
            .map_err(|e| AppError::from_store(e, "client"))
    }

    /// Conflicts of a client's number and domains with other clients.
    fn client_conflicts(
        f: &ClientFields,
        others: &[ClientRow],
        own_id: Option<i64>,
    ) -> Option<AppError> {
        for o in others.iter().filter(|o| Some(o.id) != own_id) {
            if let (Some(n), Some(on)) = (&f.client_number, &o.client_number)
                && on.eq_ignore_ascii_case(n.as_str())
            {
                return Some(AppError::Conflict {
                    field: Some("client_number"),
                    message: format!(
                        "Client {:?} (id {}) already has Client Number {on}; client numbers are compared without regard to case.",
                        o.name, o.id
                    ),
                });
            }
            for d in &f.email_domains {
                if o.email_domains.iter().any(|od| od == d.as_str()) {
                    return Some(AppError::Conflict {
                        field: Some("email_domains"),
                        message: format!(
                            "The email domain {} already belongs to client {:?} (id {}); a domain can belong to one client only.",
                            d.as_str(),
                            o.name,
                            o.id
                        ),
                    });
                }
            }
        }
        None
    }

    async fn save_client(
        &self,
        actor: &str,
        id: Option<i64>,
        f: ClientFields,
    ) -> AppResult<ClientView> {
        let missing = self
            .check_references(
                Some(("default_workspace_id", f.default_workspace_id)),
                None,
                None,
            )
            .await?;
        if !missing.is_empty() {
            return Err(ValidationErrors(missing).into());
        }
        let others = self
            .store
            .list_clients()
            .await
            .map_err(|e| AppError::from_store(e, "client"))?;
        if let Some(conflict) = Self::client_conflicts(&f, &others, id) {
            return Err(conflict);
        }
        let details = client_details(&f);
        match id {
            None => {
                let audit = AuditEntry::new(actor, "client.create", "client")
                    .summary(format!("created client {:?}", f.name.as_str()))
                    .details(details);
                let ids = self
                    .store
                    .insert_clients(std::slice::from_ref(&f), audit, |_, _| {})
                    .await
                    .map_err(|e| AppError::from_store(e, "client"))?;
                self.get_client(ids[0]).await
            }
            Some(id) => {
                let audit = AuditEntry::new(actor, "client.update", "client")
                    .summary(format!("edited client {:?}", f.name.as_str()))
                    .details(details);
                self.store
                    .update_client(id, &f, audit)
                    .await
                    .map(|r| ClientView::from(&r))
                    .map_err(|e| AppError::from_store(e, "client"))
            }
        }
    }

    pub async fn create_client(&self, actor: &str, raw: &RawClient) -> AppResult<ClientView> {
        let f = ClientFields::parse(raw)?;
        self.save_client(actor, None, f).await
    }

    pub async fn update_client(
        &self,
        actor: &str,
        id: i64,
        raw: &RawClient,
    ) -> AppResult<ClientView> {
        let current = self
            .store
            .get_client(id)
            .await
            .map_err(|e| AppError::from_store(e, "client"))?;
        let current = ClientFields::parse(&RawClient {
            name: Some(current.name),
            client_number: Some(current.client_number),
            email_domains: Some(Some(current.email_domains)),
            default_workspace_id: Some(current.default_workspace_id),
        })
        .map_err(|e| AppError::Other(anyhow::anyhow!("client {id} in the database: {e}")))?;
        let f = current.apply(raw)?;
        self.save_client(actor, Some(id), f).await
    }

    pub async fn delete_client(&self, actor: &str, id: i64) -> AppResult<()> {
        let current = self.get_client(id).await?;
        let audit = AuditEntry::new(actor, "client.delete", "client")
            .summary(format!("deleted client {:?}", current.name));
        self.store
            .delete_client(id, audit)
            .await
            .map_err(|e| AppError::from_store(e, "client"))
    }

    pub async fn import_clients(
        &self,
        actor: &str,
        items: &[ImportItem],
        progress: impl FnMut(u64, u64),
    ) -> Result<ImportReport, ImportError> {
        let workspaces: HashSet<i64> = self
            .store
            .list_named(NamedKind::Workspace)
            .await
            .map_err(|e| AppError::from_store(e, "workspace"))?
            .iter()
            .map(|w| w.id)
            .collect();
        let existing = self
            .store
            .list_clients()
            .await
            .map_err(|e| AppError::from_store(e, "client"))?;
        let mut rows = Rows { errors: Vec::new() };
        let mut numbers: HashMap<String, usize> = HashMap::new();
        let mut domains: HashMap<String, usize> = HashMap::new();
        let mut good = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let row = i + 1;
            let Some(raw) = rows.raw::<RawClient>(item, row) else {
                continue;
            };
            let f = match ClientFields::parse(&raw) {
                Ok(f) => f,
                Err(e) => {
                    rows.validation(item, row, &e);
                    continue;
                }
            };
            let before = rows.errors.len();
            if !workspaces.contains(&f.default_workspace_id) {
                let e = not_found("default_workspace_id", "Workspace", f.default_workspace_id);
                rows.validation(item, row, &e.into());
            }
            if let Some(AppError::Conflict { field, message }) =
                Self::client_conflicts(&f, &existing, None)
            {
                rows.push(item, row, field.unwrap_or(""), "conflict", message);
            }
            if let Some(n) = &f.client_number
                && let Some(first) = numbers.insert(n.key(), row)
            {
                rows.push(
                    item,
                    row,
                    "client_number",
                    "duplicate",
                    format!(
                        "Client Number {} is also on row {first} of this import.",
                        n.as_str()
                    ),
                );
            }
            for d in &f.email_domains {
                if let Some(first) = domains.insert(d.as_str().to_string(), row) {
                    rows.push(
                        item,
                        row,
                        "email_domains",
                        "duplicate",
                        format!(
                            "The email domain {} is also on row {first} of this import.",
                            d.as_str()
                        ),
                    );
                }
            }
            if rows.errors.len() == before {
                good.push(f);
            }
        }
        if !rows.errors.is_empty() {
            return Err(ImportError::Rejected(rows.errors));
        }
        let audit = AuditEntry::new(actor, "client.import", "client")
            .summary(format!("imported {} clients", good.len()))
            .details(json!({"count": good.len()}));
        let ids = self
            .store
            .insert_clients(&good, audit, progress)
            .await
            .map_err(|e| AppError::from_store(e, "client"))?;
        Ok(ImportReport {
            imported: ids.len(),
            ids,
        })
    }

    // ---- contacts ----

    pub async fn list_contacts(&self) -> AppResult<Vec<ContactView>> {
        let rows = self
            .store
            .list_contacts()
            .await
            .map_err(|e| AppError::from_store(e, "contact"))?;
        Ok(rows.iter().map(ContactView::from).collect())
    }

    pub async fn get_contact(&self, id: i64) -> AppResult<ContactView> {
        self.store
            .get_contact(id)
            .await
            .map(|r| ContactView::from(&r))
            .map_err(|e| AppError::from_store(e, "contact"))
    }

    async fn save_contact(
        &self,
        actor: &str,
        id: Option<i64>,
        f: ContactFields,
    ) -> AppResult<ContactView> {
        let missing = self
            .check_references(
                Some(("workspace_id", f.workspace_id)),
                None,
                f.client_id.map(|c| ("client_id", c)),
            )
            .await?;
        if !missing.is_empty() {
            return Err(ValidationErrors(missing).into());
        }
        if let Some(other) = self
            .store
            .contact_by_email(f.email.key())
            .await
            .map_err(|e| AppError::from_store(e, "contact"))?
            && Some(other.id) != id
        {
            return Err(AppError::Conflict {
                field: Some("email"),
                message: format!(
                    "Contact {:?} (id {}) already has the address {}; addresses are compared without regard to case.",
                    other.name, other.id, other.email
                ),
            });
        }
        let details = json!({
            "email": f.email.as_str(), "name": f.name.as_str(),
            "client_id": f.client_id, "workspace_id": f.workspace_id,
        });
        match id {
            None => {
                let audit = AuditEntry::new(actor, "contact.create", "contact")
                    .summary(format!("created contact {}", f.email))
                    .details(details);
                let ids = self
                    .store
                    .insert_contacts(std::slice::from_ref(&f), audit, |_, _| {})
                    .await
                    .map_err(|e| AppError::from_store(e, "contact"))?;
                self.get_contact(ids[0]).await
            }
            Some(id) => {
                let audit = AuditEntry::new(actor, "contact.update", "contact")
                    .summary(format!("edited contact {}", f.email))
                    .details(details);
                self.store
                    .update_contact(id, &f, audit)
                    .await
                    .map(|r| ContactView::from(&r))
                    .map_err(|e| AppError::from_store(e, "contact"))
            }
        }
    }

    pub async fn create_contact(&self, actor: &str, raw: &RawContact) -> AppResult<ContactView> {
        let f = ContactFields::parse(raw)?;
        self.save_contact(actor, None, f).await
    }

    pub async fn update_contact(
        &self,
        actor: &str,
        id: i64,
        raw: &RawContact,
    ) -> AppResult<ContactView> {
        let c = self.get_contact(id).await?;
        let current = ContactFields::parse(&RawContact {
            email: Some(c.email),
            name: Some(c.name),
            client_id: Some(c.client_id),
            workspace_id: Some(c.workspace_id),
        })
        .map_err(|e| AppError::Other(anyhow::anyhow!("contact {id} in the database: {e}")))?;
        let f = current.apply(raw)?;
        self.save_contact(actor, Some(id), f).await
    }

    pub async fn delete_contact(&self, actor: &str, id: i64) -> AppResult<()> {
        let current = self.get_contact(id).await?;
        let audit = AuditEntry::new(actor, "contact.delete", "contact")
            .summary(format!("deleted contact {}", current.email));
        self.store
            .delete_contact(id, audit)
            .await
            .map_err(|e| AppError::from_store(e, "contact"))
    }

    pub async fn import_contacts(
        &self,
        actor: &str,
        items: &[ImportItem],
        progress: impl FnMut(u64, u64),
    ) -> Result<ImportReport, ImportError> {
        let workspaces: HashSet<i64> = self
            .store
            .list_named(NamedKind::Workspace)
            .await
            .map_err(|e| AppError::from_store(e, "workspace"))?
            .iter()
            .map(|w| w.id)
            .collect();
        let clients: HashSet<i64> = self
            .store
            .list_clients()
            .await
            .map_err(|e| AppError::from_store(e, "client"))?
            .iter()
            .map(|c| c.id)
            .collect();
        let existing: HashMap<String, ContactRow> = self
            .store
            .list_contacts()
            .await
            .map_err(|e| AppError::from_store(e, "contact"))?
            .into_iter()
            .map(|c| (c.email.to_lowercase(), c))
            .collect();
        let mut rows = Rows { errors: Vec::new() };
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut good = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let row = i + 1;
            let Some(raw) = rows.raw::<RawContact>(item, row) else {
                continue;
            };
            let f = match ContactFields::parse(&raw) {
                Ok(f) => f,
                Err(e) => {
                    rows.validation(item, row, &e);
                    continue;
                }
            };
            let before = rows.errors.len();
            if !workspaces.contains(&f.workspace_id) {
                let e = not_found("workspace_id", "Workspace", f.workspace_id);
                rows.validation(item, row, &e.into());
            }
            if let Some(c) = f.client_id.filter(|c| !clients.contains(c)) {
                rows.validation(item, row, &not_found("client_id", "Client", c).into());
            }
            if let Some(other) = existing.get(f.email.key()) {
                rows.push(
                    item,
                    row,
                    "email",
                    "conflict",
                    format!(
                        "Contact {:?} (id {}) already has the address {}.",
                        other.name, other.id, other.email
                    ),
                );
            } else if let Some(first) = seen.insert(f.email.key().to_string(), row) {
                rows.push(
                    item,
                    row,
                    "email",
                    "duplicate",
                    format!(
                        "The address {} is also on row {first} of this import.",
                        f.email
                    ),
                );
            }
            if rows.errors.len() == before {
                good.push(f);
            }
        }
        if !rows.errors.is_empty() {
            return Err(ImportError::Rejected(rows.errors));
        }
        let audit = AuditEntry::new(actor, "contact.import", "contact")
            .summary(format!("imported {} contacts", good.len()))
            .details(json!({"count": good.len()}));
        let ids = self
            .store
            .insert_contacts(&good, audit, progress)
            .await
            .map_err(|e| AppError::from_store(e, "contact"))?;
        Ok(ImportReport {
            imported: ids.len(),
            ids,
        })
    }
}

fn client_details(f: &ClientFields) -> serde_json::Value {
    json!({
        "name": f.name.as_str(),
        "client_number": f.client_number.as_ref().map(|n| n.as_str()),
        "email_domains": f.email_domains.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "default_workspace_id": f.default_workspace_id,
    })
}

fn create_action(kind: NamedKind) -> &'static str {
    match kind {
        NamedKind::Workspace => "workspace.create",
        NamedKind::ProjectType => "project_type.create",
    }
}

fn update_action(kind: NamedKind) -> &'static str {
    match kind {
        NamedKind::Workspace => "workspace.update",
        NamedKind::ProjectType => "project_type.update",
    }
}

fn delete_action(kind: NamedKind) -> &'static str {
    match kind {
        NamedKind::Workspace => "workspace.delete",
        NamedKind::ProjectType => "project_type.delete",
    }
}

fn import_action(kind: NamedKind) -> &'static str {
    match kind {
        NamedKind::Workspace => "workspace.import",
        NamedKind::ProjectType => "project_type.import",
    }
}

/// "Workspace", "Project type": for messages that start a sentence.
pub fn kind_title(kind: NamedKind) -> String {
    capitalised(kind.label())
}

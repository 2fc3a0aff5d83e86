//! What a kind of reference record is, as data: a `Spec` (its names, its fields, who else points
//! at it) and `Record`, which ties a spec to the domain type that checks its form. The store,
//! the use cases, the API, the admin pages, the OpenAPI document and the CLI each have one
//! generic path over these, so one more kind of record is a form type (`Form`), a `Spec` and a
//! line in `visit_records`.
//!
//! Must not do I/O or know SQL, HTTP or clap: the layers turn a `Spec` into those.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::validation::ValidationErrors;

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One line of text.
    Text,
    /// An email address.
    Email,
    /// Short texts, kept in a table of their own: `table (owner, column)`.
    List {
        table: &'static str,
        owner: &'static str,
        column: &'static str,
    },
    /// The id of a record of another kind.
    Ref(&'static Spec),
}

/// One field of a form, named as in the API contract; the column has the same name.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// For people: "Client Number".
    pub label: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Unique among the records of its kind, compared without regard to case (a text field
    /// keeps the lower-cased value in the column `{name}_key`): how a message names one value,
    /// such as "the email domain".
    pub unique: Option<&'static str>,
    /// The most characters a form accepts; 0 for no limit of its own.
    pub max_chars: usize,
    /// A hint next to the field in forms and `--help`.
    pub hint: &'static str,
}

impl Field {
    const fn new(name: &'static str, label: &'static str, kind: Kind) -> Self {
        Self {
            name,
            label,
            kind,
            required: false,
            unique: None,
            max_chars: 0,
            hint: "",
        }
    }

    pub const fn text(name: &'static str, label: &'static str) -> Self {
        Self::new(name, label, Kind::Text)
    }

    pub const fn email(name: &'static str, label: &'static str) -> Self {
        Self::new(name, label, Kind::Email)
    }

    /// A list kept in `table (owner, column)`.
    pub const fn list(
        name: &'static str,
        label: &'static str,
        (table, owner, column): (&'static str, &'static str, &'static str),
    ) -> Self {
        Self::new(
            name,
            label,
            Kind::List {
                table,
                owner,
                column,
            },
        )
    }

    pub const fn reference(name: &'static str, label: &'static str, to: &'static Spec) -> Self {
        Self::new(name, label, Kind::Ref(to))
    }

    pub const fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    pub const fn unique(self, one_value: &'static str) -> Self {
        Self {
            unique: Some(one_value),
            ..self
        }
    }

    pub const fn max_chars(self, n: usize) -> Self {
        Self {
            max_chars: n,
            ..self
        }
    }

    pub const fn hint(self, hint: &'static str) -> Self {
        Self { hint, ..self }
    }
}

/// Rows outside the reference records that point at one: refused deletes name them as
/// `{label} {shown}`, such as "alias payroll@example.com".
#[derive(Debug, Clone, Copy)]
pub struct UsedBy {
    pub label: &'static str,
    pub table: &'static str,
    pub column: &'static str,
    pub shown: &'static str,
}

/// One kind of reference record.
#[derive(Debug)]
pub struct Spec {
    /// The audit target type: "project_type".
    pub noun: &'static str,
    /// The audit actions, `[create, update, delete, import]`: `actions!("project_type")`.
    pub actions: [&'static str; 4],
    /// For messages: "project type".
    pub label: &'static str,
    /// "project types".
    pub plural: &'static str,
    /// Below `/api/v1/` and `/admin/`: "project-types".
    pub path: &'static str,
    pub table: &'static str,
    /// The CLI command's help.
    pub about: &'static str,
    /// The name of its request schemas in the OpenAPI document (`{schema}Input`).
    pub schema: &'static str,
    /// In form order; the first names a record in messages and lists.
    pub fields: &'static [Field],
    /// Rows outside the reference records that point at this kind (records that do are found
    /// from their `Kind::Ref` fields).
    pub used_by: &'static [UsedBy],
}

impl Spec {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The value of `field` among a record's `values` (in field order); none when it has none.
    pub fn value<'a>(&self, values: &'a [Value], field: &str) -> &'a Value {
        static NONE: Value = Value::Text(None);
        let at = self.fields.iter().position(|f| f.name == field);
        at.and_then(|i| values.get(i)).unwrap_or(&NONE)
    }

    /// "Project type": the label starting a sentence.
    pub fn title(&self) -> String {
        capitalised(self.label)
    }

    /// "Project Types": the plural as a heading.
    pub fn heading(&self) -> String {
        self.plural
            .split(' ')
            .map(capitalised)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// "a client", "an OAuth app".
    pub fn a(&self) -> String {
        let article = if self
            .label
            .starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U'])
        {
            "an"
        } else {
            "a"
        };
        format!("{article} {}", self.label)
    }
}

pub fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The lower-cased form unique values are compared in.
pub fn key(value: &str) -> String {
    value.to_lowercase()
}

/// A list as people type it (`a.com, b.com;c.com`, one per line…): the parts between commas,
/// semicolons and white space, without empty ones.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A field's checked value as stored, and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(Option<String>),
    Id(Option<i64>),
    List(Vec<String>),
}

impl Value {
    pub fn text(s: impl Into<String>) -> Self {
        Self::Text(Some(s.into()))
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => t.as_deref(),
            _ => None,
        }
    }

    pub fn as_id(&self) -> Option<i64> {
        match self {
            Self::Id(id) => *id,
            _ => None,
        }
    }

    pub fn as_list(&self) -> &[String] {
        match self {
            Self::List(l) => l,
            _ => &[],
        }
    }

    /// For people: the text, the id, or the list joined with ", "; empty when there is none.
    pub fn shown(&self) -> String {
        match self {
            Self::Text(t) => t.clone().unwrap_or_default(),
            Self::Id(id) => id.map(|i| i.to_string()).unwrap_or_default(),
            Self::List(l) => l.join(", "),
        }
    }

    /// The unique values it holds, in the form they are compared in.
    pub fn keys(&self) -> Vec<(String, String)> {
        match self {
            Self::Text(Some(t)) => vec![(key(t), t.clone())],
            Self::List(l) => l.iter().map(|v| (key(v), v.clone())).collect(),
            _ => Vec::new(),
        }
    }
}

/// A record's form as it arrives. Serialised, it holds only the fields that were given, so an
/// edit can be laid over the stored values (absent fields kept, null clears).
pub trait Form: Serialize + DeserializeOwned + Default + Send + Sync + 'static {
    /// Checks the whole form: the values to store, one per field of the record's spec, in
    /// its order.
    fn check(&self) -> Result<Vec<Value>, ValidationErrors>;
}

/// A kind of reference record: its spec and the form that checks it.
pub trait Record: Send + Sync + 'static {
    const SPEC: &'static Spec;
    type Raw: Form;
}

/// The audit actions of a spec: `actions!("client")` is `["client.create", "client.update",
/// "client.delete", "client.import"]`.
macro_rules! actions {
    ($noun:literal) => {
        [
            concat!($noun, ".create"),
            concat!($noun, ".update"),
            concat!($noun, ".delete"),
            concat!($noun, ".import"),
        ]
    };
}
pub(crate) use actions;

/// Something done once per kind of record (building routes, finding a command's kind).
pub trait Visit {
    fn record<R: Record>(&mut self);
}

/// The spec of every kind of record, in the order of `visit_records`.
pub fn record_specs() -> Vec<&'static Spec> {
    struct Specs(Vec<&'static Spec>);
    impl Visit for Specs {
        fn record<R: Record>(&mut self) {
            self.0.push(R::SPEC);
        }
    }
    let mut specs = Specs(Vec::new());
    super::reference::visit_records(&mut specs);
    specs.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a spec is a field of its form, so stored values read back as a form.
    #[test]
    fn every_form_has_the_fields_of_its_spec() {
        struct Forms;
        impl Visit for Forms {
            fn record<R: Record>(&mut self) {
                let form: serde_json::Map<String, serde_json::Value> = R::SPEC
                    .fields
                    .iter()
                    .map(|f| (f.name.to_string(), serde_json::Value::Null))
                    .collect();
                let read = serde_json::from_value::<R::Raw>(form.into());
                assert!(read.is_ok(), "{}: {:?}", R::SPEC.noun, read.err());
            }
        }
        super::super::reference::visit_records(&mut Forms);
    }

    #[test]
    fn every_spec_is_consistent() {
        for s in record_specs() {
            let verbs = ["create", "update", "delete", "import"];
            for (action, verb) in s.actions.iter().zip(verbs) {
                assert_eq!(*action, format!("{}.{verb}", s.noun));
            }
            assert!(!s.fields.is_empty(), "{} has fields", s.noun);
            for f in s.fields {
                if let Kind::Ref(to) = f.kind {
                    assert!(record_specs().iter().any(|t| t.noun == to.noun));
                }
            }
        }
    }
}

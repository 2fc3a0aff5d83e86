//! Reference data that cases are routed to: workspaces, project types, clients, contacts —
//! each a form type, its checks and its `Record` descriptor; `visit_records` lists them.
//!
//! Checks the shape of each field (names, client numbers, domains, addresses, ids). Must not
//! know whether a referenced id exists or a name is taken: the app asks the store.

use serde::{Deserialize, Serialize};

use super::alias::{nullable, parse_address};
use super::credential::dns_name_to_ascii;
use super::email::EmailAddress;
use super::record::{Field, Form, Record, Spec, UsedBy, Value, Visit, actions};
use super::routing::is_client_number_char;
use super::validation::{
    Collector, Text, ValidationError, ValidationErrors, optional_id, required_id,
};

const MAX_NAME_CHARS: usize = 200;
const MAX_CLIENT_NUMBER_CHARS: usize = 50;
const MAX_DOMAINS: usize = 50;

/// A display name: 1–200 characters on one line; compared without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefName(String);

impl RefName {
    pub fn parse(
        value: Option<&str>,
        field: &'static str,
        label: &str,
    ) -> Result<Self, ValidationError> {
        Text::line(field, label, MAX_NAME_CHARS)
            .required(value)
            .map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// The number a `CLID=` token names: 1–50 letters, digits, `-` or `_`; case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientNumber(String);

impl ClientNumber {
    pub fn parse_optional(value: Option<&str>) -> Result<Option<Self>, ValidationError> {
        let s = value.unwrap_or("").trim();
        if s.is_empty() {
            return Ok(None);
        }
        if s.len() > MAX_CLIENT_NUMBER_CHARS || !s.chars().all(is_client_number_char) {
            return Err(ValidationError::new(
                "client_number",
                "invalid_format",
                format!(
                    "Client Number must be 1–{MAX_CLIENT_NUMBER_CHARS} letters, digits, - or _ (it is written in emails as CLID=<client number>)."
                ),
            ));
        }
        Ok(Some(Self(s.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A client's email domain, lower-case ASCII (IDN in punycode); `@acme.com` is accepted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EmailDomain(String);

impl EmailDomain {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let s = value.trim();
        let s = s.strip_prefix('@').unwrap_or(s);
        match dns_name_to_ascii(s) {
            Ok(a) if a.contains('.') => Ok(Self(a.to_ascii_lowercase())),
            _ => Err(ValidationError::new(
                "email_domains",
                "invalid_domain",
                format!("Email domain {value:?} is not a domain name such as example.com."),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A workspace or project type form: a name.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A client form as it arrives.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_number: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_domains: Option<Option<Vec<String>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_workspace_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFields {
    pub name: RefName,
    pub client_number: Option<ClientNumber>,
    /// Sorted, without duplicates.
    pub email_domains: Vec<EmailDomain>,
    pub default_workspace_id: i64,
}

impl ClientFields {
    pub fn parse(raw: &RawClient) -> Result<Self, ValidationErrors> {
        let mut c = Collector::default();
        let name = c.take(RefName::parse(raw.name.as_deref(), "name", "Name"));
        let client_number = c.take(ClientNumber::parse_optional(
            raw.client_number.clone().flatten().as_deref(),
        ));
        let domains = raw.email_domains.clone().flatten().unwrap_or_default();
        let email_domains = c.take(if domains.len() > MAX_DOMAINS {
            Err(ValidationError::new(
                "email_domains",
                "too_many",
                format!("A client has at most {MAX_DOMAINS} email domains."),
            ))
        } else {
            domains
                .iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| EmailDomain::parse(d))
                .collect::<Result<Vec<_>, _>>()
                .map(|mut v| {
                    v.sort();
                    v.dedup();
                    v
                })
        });
        let default_workspace_id = c.take(required_id(
            raw.default_workspace_id,
            "default_workspace_id",
            "Default Workspace",
        ));
        c.finish()?;
        Ok(Self {
            name: name.expect("checked"),
            client_number: client_number.expect("checked"),
            email_domains: email_domains.expect("checked"),
            default_workspace_id: default_workspace_id.expect("checked"),
        })
    }
}

/// A contact form as it arrives.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawContact {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_id: Option<Option<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFields {
    pub email: EmailAddress,
    pub name: RefName,
    pub client_id: Option<i64>,
    pub workspace_id: i64,
}

impl ContactFields {
    pub fn parse(raw: &RawContact) -> Result<Self, ValidationErrors> {
        let mut c = Collector::default();
        let email = c.take(parse_address(raw.email.as_deref(), "email", "Email"));
        let name = c.take(RefName::parse(raw.name.as_deref(), "name", "Name"));
        let client_id = c.take(optional_id(raw.client_id.flatten(), "client_id", "Client"));
        let workspace_id = c.take(required_id(raw.workspace_id, "workspace_id", "Workspace"));
        c.finish()?;
        Ok(Self {
            email: email.expect("checked"),
            name: name.expect("checked"),
            client_id: client_id.expect("checked"),
            workspace_id: workspace_id.expect("checked"),
        })
    }
}

// ---------------------------------------------------------------- descriptors

/// Every kind of reference record, in the order lists, menus and the CLI's help show them.
pub fn visit_records(v: &mut impl Visit) {
    v.record::<Workspace>();
    v.record::<ProjectType>();
    v.record::<Client>();
    v.record::<Contact>();
}

const NAME: Field = Field::text("name", "Name")
    .required()
    .max_chars(MAX_NAME_CHARS);

const fn alias_column(column: &'static str) -> UsedBy {
    UsedBy {
        label: "alias",
        table: "aliases",
        column,
        shown: "email_alias",
    }
}

impl Form for RawNamed {
    fn check(&self) -> Result<Vec<Value>, ValidationErrors> {
        let name = RefName::parse(self.name.as_deref(), "name", "Name")?;
        Ok(vec![Value::text(name.as_str())])
    }
}

/// One kind of record: its type, its form type and its spec, where the table is the noun's
/// plural (`{noun}s`) and the audit actions follow from the noun.
macro_rules! record {
    ($(#[$doc:meta])* $type:ident($raw:ty) {
        noun: $noun:literal, label: $label:literal, plural: $plural:literal, path: $path:literal,
        about: $about:literal, schema: $schema:literal, fields: $fields:expr,
        used_by: $used_by:expr $(,)?
    }) => {
        $(#[$doc])*
        pub struct $type;

        impl Record for $type {
            const SPEC: &'static Spec = &Spec {
                noun: $noun,
                actions: actions!($noun),
                label: $label,
                plural: $plural,
                path: $path,
                table: concat!($noun, "s"),
                about: $about,
                schema: $schema,
                fields: $fields,
                used_by: $used_by,
            };
            type Raw = $raw;
        }
    };
}

record!(
    /// A workspace cases are routed to.
    Workspace(RawNamed) {
        noun: "workspace", label: "workspace", plural: "workspaces", path: "workspaces",
        about: "Workspaces cases are routed to",
        schema: "Named",
        fields: &[NAME.unique("the name")],
        used_by: &[alias_column("workspace_id")],
    }
);

record!(
    /// A kind of case.
    ProjectType(RawNamed) {
        noun: "project_type", label: "project type", plural: "project types",
        path: "project-types",
        about: "Project types (kinds of case)",
        schema: "Named",
        fields: &[NAME.unique("the name")],
        used_by: &[alias_column("project_type_id")],
    }
);

impl Form for RawClient {
    fn check(&self) -> Result<Vec<Value>, ValidationErrors> {
        let f = ClientFields::parse(self)?;
        let domains = f.email_domains.iter().map(|d| d.as_str().to_string());
        Ok(vec![
            Value::text(f.name.as_str()),
            Value::Text(f.client_number.map(|n| n.as_str().to_string())),
            Value::List(domains.collect()),
            Value::Id(Some(f.default_workspace_id)),
        ])
    }
}

record!(
    /// A client: its number for `CLID=`, its email domains, its default workspace.
    Client(RawClient) {
        noun: "client", label: "client", plural: "clients", path: "clients",
        about: "Clients (client number for CLID=, email domains, default workspace)",
        schema: "Client",
        fields: &[
            NAME,
            Field::text("client_number", "Client Number")
                .unique("Client Number")
                .max_chars(MAX_CLIENT_NUMBER_CHARS)
                .hint("1–50 letters, digits, - or _; written in emails as CLID=<number>"),
            Field::list("email_domains", "Email Domains", ("client_domains", "client_id", "domain"))
                .unique("the email domain")
                .hint("comma-separated; a domain belongs to one client"),
            Field::reference("default_workspace_id", "Default Workspace", Workspace::SPEC)
                .required(),
        ],
        used_by: &[alias_column("client_id")],
    }
);

impl Form for RawContact {
    fn check(&self) -> Result<Vec<Value>, ValidationErrors> {
        let f = ContactFields::parse(self)?;
        Ok(vec![
            Value::text(f.email.as_str()),
            Value::text(f.name.as_str()),
            Value::Id(f.client_id),
            Value::Id(Some(f.workspace_id)),
        ])
    }
}

record!(
    /// A sender address with its workspace and client.
    Contact(RawContact) {
        noun: "contact", label: "contact", plural: "contacts", path: "contacts",
        about: "Contacts (sender addresses with their workspace and client)",
        schema: "Contact",
        fields: &[
            Field::email("email", "Email").required().unique("the address"),
            NAME,
            Field::reference("client_id", "Client", Client::SPEC),
            Field::reference("workspace_id", "Workspace", Workspace::SPEC).required(),
        ],
        used_by: &[],
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(
            EmailDomain::parse("@ACME.com").unwrap().as_str(),
            "acme.com"
        );
        assert_eq!(
            EmailDomain::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert!(EmailDomain::parse("localhost").is_err());
        assert!(EmailDomain::parse("a b.com").is_err());
    }

    #[test]
    fn client_numbers_fit_the_clid_token() {
        assert!(
            ClientNumber::parse_optional(Some("ACME-01_x"))
                .unwrap()
                .is_some()
        );
        assert!(ClientNumber::parse_optional(Some("")).unwrap().is_none());
        assert!(ClientNumber::parse_optional(Some("AC ME")).is_err());
        assert!(ClientNumber::parse_optional(Some("AC.ME")).is_err());
    }
}

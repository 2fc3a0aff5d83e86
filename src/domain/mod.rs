//! Value types that can only be built by parsing, and the pure rules of the product.
//!
//! Owns: what a valid mailbox address, host, port, name or password is, and the error that
//! names the offending field and rule. Must not do I/O or know about HTTP, SQL or the CLI.

mod alias;
mod case;
mod credential;
mod email;
mod health;
mod oauth_app;
pub mod providers;
mod record;
mod reference;
pub mod routing;
mod secret;
mod validation;

pub use alias::{AliasFields, FIELD_MAPPING_NAMES, FieldMappings, RawAlias};
pub use case::{CasePriority, CaseStatus};
pub use credential::{
    CaBundle, ConfigurationName, CredentialEdit, CredentialFields, CredentialPatch, Description,
    Host, LoginName, NewCredential, PasswordChange, PinnedSha256, Port, RawCredential, Security,
    parse_password, password_required,
};
pub use email::{EmailAddress, quoted_string};
pub use health::HealthState;
pub use oauth_app::{
    AuthMethod, Flow, OAuthAppEdit, OAuthAppFields, Provider, RawOAuthApp, parse_endpoint,
};
pub use record::{
    Field, Form, Kind, Record, Spec, UsedBy, Value, Visit, capitalised, key, record_specs,
    split_list,
};
pub use reference::{
    Client, ClientFields, ClientNumber, Contact, ContactFields, EmailDomain, ProjectType,
    RawClient, RawContact, RawNamed, RefName, Workspace, visit_records,
};
pub use secret::Secret;

/// The limits forms enforce, named for the OpenAPI document.
pub mod limits {
    pub use super::credential::{
        MAX_CA_BUNDLE_BYTES, MAX_DESCRIPTION_CHARS, MAX_LOGIN_CHARS,
        MAX_NAME_CHARS as MAX_CONFIGURATION_NAME_CHARS, MAX_PASSWORD_BYTES,
    };
    pub use super::oauth_app::{
        MAX_CLIENT_ID_CHARS, MAX_CLIENT_SECRET_BYTES, MAX_NAME_CHARS as MAX_OAUTH_APP_NAME_CHARS,
        MAX_TEXT_CHARS as MAX_OAUTH_TEXT_CHARS,
    };
}
pub use validation::{ValidationError, ValidationErrors};

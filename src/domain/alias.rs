//! The fields of an alias (SPEC §2, contract §8) and the forms that create and edit one.
//!
//! Checks what can be checked without the database (address format, required ids, field
//! mapping names). Must not know whether the workspace or project type exists, or about
//! uniqueness: the app checks those against the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::case::{CasePriority, CaseStatus};
use super::email::EmailAddress;
use super::validation::{Collector, ValidationError, ValidationErrors, optional_id, required_id};

/// The case fields an alias may preset.
pub const FIELD_MAPPING_NAMES: &[&str] = &[
    "category",
    "case_type",
    "priority",
    "status",
    "communication_method",
];
const MAX_MAPPING_VALUE_CHARS: usize = 100;

/// `null` → `Some(None)`, absent → `None` (with `#[serde(default)]`).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An alias form as it arrives: every field optional, nothing checked yet. For nullable
/// fields, absent means "keep" on an edit and `null` means "clear".
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AliasPatch)]
pub struct RawAlias {
    pub email_alias: Option<String>,
    pub is_default: Option<bool>,
    pub workspace_id: Option<i64>,
    pub project_type_id: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub client_id: Option<Option<i64>>,
    pub always_use_default_workspace: Option<bool>,
    pub include_attachments: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub reply_template_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    pub field_mappings: Option<Option<BTreeMap<String, String>>>,
}

/// Optional case-field → value presets, names from `FIELD_MAPPING_NAMES`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldMappings(BTreeMap<String, String>);

impl FieldMappings {
    pub fn parse(map: &BTreeMap<String, String>) -> Result<Self, ValidationError> {
        const F: &str = "field_mappings";
        let mut out = BTreeMap::new();
        for (name, value) in map {
            if !FIELD_MAPPING_NAMES.contains(&name.as_str()) {
                return Err(ValidationError::new(
                    F,
                    "unknown_case_field",
                    format!(
                        "Field mappings: {name:?} is not a case field; use {}.",
                        FIELD_MAPPING_NAMES.join(", ")
                    ),
                ));
            }
            let v = value.trim();
            if v.is_empty() {
                continue; // an empty value means "no preset"
            }
            if v.chars().count() > MAX_MAPPING_VALUE_CHARS || v.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    F,
                    "invalid_value",
                    format!(
                        "Field mappings: the value of {name} must be at most {MAX_MAPPING_VALUE_CHARS} characters on one line."
                    ),
                ));
            }
            let v = match name.as_str() {
                "status" => CaseStatus::parse(v)?.as_str(),
                "priority" => CasePriority::parse(v)?.as_str(),
                _ => v,
            };
            out.insert(name.clone(), v.to_string());
        }
        Ok(Self(out))
    }

    /// Presets as stored: a status or priority in its one text form, and one that an older
    /// version accepted as free text but is no case value dropped (cases get the default).
    pub fn from_stored(mut map: BTreeMap<String, String>) -> BTreeMap<String, String> {
        for (name, value) in map.iter_mut() {
            match name.as_str() {
                "status" => {
                    *value = CaseStatus::parse(value)
                        .map_or("", CaseStatus::as_str)
                        .into()
                }
                "priority" => {
                    *value = CasePriority::parse(value)
                        .map_or("", CasePriority::as_str)
                        .into()
                }
                _ => {}
            }
        }
        map.retain(|_, v| !v.is_empty());
        map
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }
}

/// Every field of an alias, valid on its own (references not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasFields {
    pub email_alias: EmailAddress,
    pub is_default: bool,
    pub workspace_id: i64,
    pub project_type_id: i64,
    pub client_id: Option<i64>,
    pub always_use_default_workspace: bool,
    pub include_attachments: bool,
    /// `None` = No Reply.
    pub reply_template_id: Option<i64>,
    pub field_mappings: FieldMappings,
}

/// Parses an address field with the contract's messages.
pub(crate) fn parse_address(
    value: Option<&str>,
    field: &'static str,
    label: &str,
) -> Result<EmailAddress, ValidationError> {
    match value {
        Some(s) if !s.trim().is_empty() => EmailAddress::parse(s).map_err(|e| {
            ValidationError::new(
                field,
                "invalid_email",
                format!("{label} must be a valid email address: it {}.", e.0),
            )
        }),
        _ => Err(ValidationError::required(field, label)),
    }
}

impl AliasFields {
    /// Checks a whole form. `default_project_type_id` is used when none is given (Client
    /// Service Case).
    pub fn parse(
        raw: &RawAlias,
        default_project_type_id: Option<i64>,
    ) -> Result<Self, ValidationErrors> {
        let mut c = Collector::default();
        let email_alias = c.take(parse_address(
            raw.email_alias.as_deref(),
            "email_alias",
            "Email Alias",
        ));
        let workspace_id = c.take(required_id(raw.workspace_id, "workspace_id", "Workspace"));
        let project_type_id = c.take(required_id(
            raw.project_type_id.or(default_project_type_id),
            "project_type_id",
            "Project Type",
        ));
        let client_id = c.take(optional_id(raw.client_id.flatten(), "client_id", "Client"));
        let reply_template_id = c.take(optional_id(
            raw.reply_template_id.flatten(),
            "reply_template_id",
            "Reply Template",
        ));
        let field_mappings = c.take(match raw.field_mappings.clone().flatten() {
            None => Ok(FieldMappings::default()),
            Some(m) => FieldMappings::parse(&m),
        });
        c.finish()?;
        Ok(Self {
            email_alias: email_alias.expect("checked"),
            is_default: raw.is_default.unwrap_or(false),
            workspace_id: workspace_id.expect("checked"),
            project_type_id: project_type_id.expect("checked"),
            client_id: client_id.expect("checked"),
            always_use_default_workspace: raw.always_use_default_workspace.unwrap_or(false),
            include_attachments: raw.include_attachments.unwrap_or(true),
            reply_template_id: reply_template_id.expect("checked"),
            field_mappings: field_mappings.expect("checked"),
        })
    }

    /// Back to a raw form, so an edit can be laid over it and checked whole.
    pub fn to_raw(&self) -> RawAlias {
        RawAlias {
            email_alias: Some(self.email_alias.as_str().to_string()),
            is_default: Some(self.is_default),
            workspace_id: Some(self.workspace_id),
            project_type_id: Some(self.project_type_id),
            client_id: Some(self.client_id),
            always_use_default_workspace: Some(self.always_use_default_workspace),
            include_attachments: Some(self.include_attachments),
            reply_template_id: Some(self.reply_template_id),
            field_mappings: Some(Some(self.field_mappings.as_map().clone())),
        }
    }

    /// The edit `patch` laid over these fields, checked whole.
    pub fn apply(&self, patch: &RawAlias) -> Result<Self, ValidationErrors> {
        let kept = self.to_raw();
        let edited = RawAlias {
            email_alias: patch.email_alias.clone().or(kept.email_alias),
            is_default: patch.is_default.or(kept.is_default),
            workspace_id: patch.workspace_id.or(kept.workspace_id),
            project_type_id: patch.project_type_id.or(kept.project_type_id),
            client_id: patch.client_id.or(kept.client_id),
            always_use_default_workspace: (patch.always_use_default_workspace)
                .or(kept.always_use_default_workspace),
            include_attachments: patch.include_attachments.or(kept.include_attachments),
            reply_template_id: patch.reply_template_id.or(kept.reply_template_id),
            field_mappings: patch.field_mappings.clone().or(kept.field_mappings),
        };
        Self::parse(&edited, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: serde_json::Value) -> RawAlias {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_and_required_fields() {
        let f = AliasFields::parse(
            &raw(serde_json::json!({"email_alias": "Payroll@Example.com", "workspace_id": 3})),
            Some(1),
        )
        .unwrap();
        assert_eq!(f.project_type_id, 1);
        assert!(f.include_attachments);
        assert!(!f.is_default);
        assert_eq!(f.reply_template_id, None);
        let e = AliasFields::parse(&raw(serde_json::json!({})), None).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|e| (e.field, e.rule)).collect();
        assert_eq!(
            fields,
            [
                ("email_alias", "required"),
                ("workspace_id", "required"),
                ("project_type_id", "required")
            ]
        );
    }

    #[test]
    fn field_mappings_only_name_case_fields() {
        let e = AliasFields::parse(
            &raw(
                serde_json::json!({"email_alias": "a@example.com", "workspace_id": 1,
                "field_mappings": {"colour": "red"}}),
            ),
            Some(1),
        )
        .unwrap_err();
        assert_eq!(e.first().rule, "unknown_case_field");
    }

    #[test]
    fn edit_keeps_absent_fields_and_clears_nulls() {
        let f = AliasFields::parse(
            &raw(serde_json::json!({"email_alias": "a@example.com", "workspace_id": 1, "client_id": 4})),
            Some(1),
        )
        .unwrap();
        let g = f
            .apply(&raw(
                serde_json::json!({"client_id": null, "is_default": true}),
            ))
            .unwrap();
        assert_eq!(g.client_id, None);
        assert!(g.is_default);
        assert_eq!(g.email_alias, f.email_alias);
    }
}

//! A case's status and priority: the values a case may hold, each with one text form (stored,
//! shown, sent). SPEC §3 makes a new case New and Medium; an alias's field mappings may preset
//! another of these values. Must not decide which case gets which value (that is
//! `app::processing`).

use std::fmt;

use serde::{Serialize, Serializer};

use super::validation::ValidationError;

/// An enum of fixed values with one text form each, read from text case-insensitively (spaces,
/// `_` and `-` alike), and its default.
macro_rules! case_value {
    ($(#[$doc:meta])* $name:ident, field: $field:literal, default: $default:ident,
     { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $(
                #[doc = $text]
                $variant,
            )+
        }

        impl $name {
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value `text` names, whatever its case and separators ("in_progress" is In
            /// Progress); an error naming the field mapping and the allowed values otherwise.
            pub fn parse(text: &str) -> Result<Self, ValidationError> {
                Self::named(text).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::new(
                        "field_mappings",
                        concat!("unknown_", $field),
                        format!(
                            concat!("Field mappings: {:?} is not a case ", $field, "; use one of {}."),
                            text.trim(),
                            allowed.join(", ")
                        ),
                    )
                })
            }

            fn named(text: &str) -> Option<Self> {
                let wanted = loose(text);
                Self::ALL.iter().copied().find(|v| loose(v.as_str()) == wanted)
            }

            /// A value as stored. Every stored value is one of `ALL` (migration
            /// `0008_case_status_priority` rewrote older free text); anything else reads as the
            /// default rather than failing the whole read.
            pub fn from_stored(text: &str) -> Self {
                Self::named(text).unwrap_or_default()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// Lower case, with spaces, `_` and `-` as one separator.
fn loose(text: &str) -> String {
    text.trim()
        .split([' ', '_', '-'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

case_value!(
    /// Where a case stands. New cases are New.
    CaseStatus, field: "status", default: New,
    {
        New => "New",
        Open => "Open",
        InProgress => "In Progress",
        Pending => "Pending",
        Resolved => "Resolved",
        Closed => "Closed",
    }
);

case_value!(
    /// How urgent a case is. New cases are Medium.
    CasePriority, field: "priority", default: Medium,
    {
        Low => "Low",
        Medium => "Medium",
        High => "High",
        Urgent => "Urgent",
    }
);
/// The OpenAPI schema of a value: a string, one of `ALL`.
macro_rules! case_value_schema {
    ($($name:ident),+) => {$(
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::ALL.iter().map(|v| v.as_str())))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    )+};
}
case_value_schema!(CaseStatus, CasePriority);

#[cfg(test)]
mod tests {
    use super::{CasePriority, CaseStatus};

    #[test]
    fn every_value_reads_back_from_its_text() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Ok(*s));
            assert_eq!(CaseStatus::from_stored(s.as_str()), *s);
        }
        for p in CasePriority::ALL {
            assert_eq!(CasePriority::parse(p.as_str()), Ok(*p));
            assert_eq!(CasePriority::from_stored(p.as_str()), *p);
        }
    }

    #[test]
    fn case_and_separators_do_not_matter() {
        assert_eq!(
            CaseStatus::parse(" in_progress "),
            Ok(CaseStatus::InProgress)
        );
        assert_eq!(CaseStatus::parse("IN-PROGRESS"), Ok(CaseStatus::InProgress));
        assert_eq!(CasePriority::parse("high"), Ok(CasePriority::High));
    }

    #[test]
    fn other_values_are_refused_by_field_and_rule() {
        let e = CasePriority::parse("P1").unwrap_err();
        assert_eq!((e.field, e.rule), ("field_mappings", "unknown_priority"));
        assert_eq!(
            e.message,
            "Field mappings: \"P1\" is not a case priority; use one of Low, Medium, High, Urgent."
        );
        let e = CaseStatus::parse("Done").unwrap_err();
        assert_eq!((e.field, e.rule), ("field_mappings", "unknown_status"));
    }

    #[test]
    fn new_cases_are_new_and_medium() {
        assert_eq!(CaseStatus::default(), CaseStatus::New);
        assert_eq!(CasePriority::default(), CasePriority::Medium);
        assert_eq!(CaseStatus::from_stored("something old"), CaseStatus::New);
    }
}

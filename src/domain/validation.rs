//! The validation error: which field broke which rule, in words a person can act on.

use std::fmt;

/// One broken rule on one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The contract name of the field (`mailbox`, `port`…).
    pub field: &'static str,
    /// A stable machine name of the rule (`required`, `too_long`, `invalid_format`…).
    pub rule: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            rule,
            message: message.into(),
        }
    }

    pub fn required(field: &'static str, label: &str) -> Self {
        Self::new(field, "required", format!("{label} is required."))
    }
}

/// The rule of a free-text field: trimmed, empty means not given, at most `max_chars`
/// characters, no control characters (tabs and line breaks allowed in `lines`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text<'a> {
    field: &'static str,
    label: &'a str,
    max_chars: usize,
    multiline: bool,
}

impl<'a> Text<'a> {
    /// Text on one line.
    pub const fn line(field: &'static str, label: &'a str, max_chars: usize) -> Self {
        Self {
            field,
            label,
            max_chars,
            multiline: false,
        }
    }

    /// Text that may span lines.
    pub const fn lines(field: &'static str, label: &'a str, max_chars: usize) -> Self {
        Self {
            multiline: true,
            ..Self::line(field, label, max_chars)
        }
    }

    pub fn optional(&self, input: Option<&str>) -> Result<Option<String>, ValidationError> {
        let Self {
            field,
            label,
            max_chars,
            multiline,
        } = *self;
        let s = input.unwrap_or("").trim();
        if s.is_empty() {
            return Ok(None);
        }
        let count = s.chars().count();
        if count > max_chars {
            return Err(ValidationError::new(
                field,
                "too_long",
                format!("{label} must be at most {max_chars} characters (it has {count})."),
            ));
        }
        let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
        if s.chars().any(|c| c.is_control() && !allowed(c)) {
            return Err(ValidationError::new(
                field,
                "invalid_characters",
                format!("{label} must not contain control characters."),
            ));
        }
        Ok(Some(s.to_string()))
    }

    pub fn required(&self, input: Option<&str>) -> Result<String, ValidationError> {
        self.optional(input)?
            .ok_or_else(|| ValidationError::required(self.field, self.label))
    }
}

/// The id of a record a form points at, when it points at one: a positive number.
pub(crate) fn optional_id(
    value: Option<i64>,
    field: &'static str,
    label: &str,
) -> Result<Option<i64>, ValidationError> {
    match value {
        Some(id) if id <= 0 => Err(ValidationError::new(
            field,
            "invalid_id",
            format!(
                "{label} must be the id of an existing {}.",
                label.to_lowercase()
            ),
        )),
        other => Ok(other),
    }
}

/// `optional_id` that must be given.
pub(crate) fn required_id(
    value: Option<i64>,
    field: &'static str,
    label: &str,
) -> Result<i64, ValidationError> {
    optional_id(value, field, label)?.ok_or_else(|| ValidationError::required(field, label))
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Every broken rule of one form, in field order; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl ValidationErrors {
    /// The first broken rule (what a single-error client shows). Never panics: an empty list,
    /// which no parser makes, reads as a general "invalid input".
    pub fn first(&self) -> &ValidationError {
        static NONE: std::sync::LazyLock<ValidationError> = std::sync::LazyLock::new(|| {
            ValidationError::new("", "invalid", "The input is not valid.")
        });
        self.0.first().unwrap_or(&NONE)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationError> for ValidationErrors {
    fn from(e: ValidationError) -> Self {
        Self(vec![e])
    }
}

/// Collects the results of several field parsers so a form reports every problem at once.
#[derive(Default)]
pub(crate) struct Collector(Vec<ValidationError>);

impl Collector {
    pub fn take<T>(&mut self, r: Result<T, ValidationError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

#[cfg(test)]
mod first_tests {
    use super::*;

    #[test]
    fn an_empty_list_reads_as_invalid_input_instead_of_panicking() {
        assert_eq!(ValidationErrors(Vec::new()).first().rule, "invalid");
    }
}

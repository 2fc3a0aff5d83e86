//! Request extractors whose rejections are `ApiError` JSON, never plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body: wrong content type → 415, unreadable → 400, wrong shape → 422 naming the field.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "payload_too_large",
                    "The request body is too large.",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "The request body could not be read.",
                )
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                let message = without_values(text.split(" at line ").next().unwrap_or(&text));
                let field = unknown_field(&message).or((path != ".").then_some(path));
                let code = if message.starts_with("unknown field") {
                    "unknown_field"
                } else {
                    "invalid_type"
                };
                let mut err = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    match &field {
                        Some(f) => format!("{f}: {message}."),
                        None => format!("{message}."),
                    },
                );
                err.field = field;
                err
            }
            _ => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("The body is not valid JSON: {inner}."),
            ),
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    Ok(value)
}

/// serde's wording without the value that was sent (it may be a password typed into the wrong
/// field): `invalid type: integer `77310042`, expected a string` → `expected a string, not an
/// integer`.
fn without_values(message: &str) -> String {
    let plain = |expected: &str| match expected.trim() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "a whole number".to_string()
        }
        "f32" | "f64" => "a number".to_string(),
        other => other.to_string(),
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let got = got.split(['`', '"']).next().unwrap_or(got).trim();
        let article = if got.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        return format!("expected {}, not {article} {got}", plain(expected));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest
            .split_once(", expected ")
            .map_or("another value", |(_, e)| e);
        return format!("the value is out of range: expected {}", plain(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!("unknown value, expected {expected}");
    }
    message.to_string()
}

/// `unknown field `x`, expected …` → `x`.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// An id from a path: anything that is not a positive integer is simply not found.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(what))
}

/// An optional whole-number query parameter; a malformed one is a 400 naming it.
pub fn query_number(
    q: &std::collections::HashMap<String, String>,
    key: &str,
) -> Result<Option<i64>, ApiError> {
    q.get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("{key} must be a whole number."),
                )
                .field(key)
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn type_errors_name_the_expected_type_but_never_the_value() {
        assert_eq!(
            without_values("invalid type: integer `77310042`, expected a string"),
            "expected a string, not an integer"
        );
        assert_eq!(
            without_values("invalid type: string \"hunter2\", expected u16"),
            "expected a whole number, not a string"
        );
        assert_eq!(
            without_values("invalid value: integer `-5`, expected u16"),
            "the value is out of range: expected a whole number"
        );
        assert_eq!(
            without_values("unknown variant `hunter2`, expected `tls` or `none`"),
            "unknown value, expected `tls` or `none`"
        );
        assert_eq!(
            without_values("missing field `name`"),
            "missing field `name`"
        );
    }
}

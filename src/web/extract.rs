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

/// Reads the JSON first (syntax errors: 400), then the type (shape errors: 422 naming the
/// field). A number with a zero fraction (`993.0`) is that whole number, as JSON Schema counts
/// it. The text read is wiped afterwards: it may hold a password.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    whole_numbers(&mut value);
    let typed = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let text = e.into_inner().to_string();
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
    });
    wipe(&mut value);
    typed
}

/// 2^53: every whole number up to it is exact as a float.
const MAX_EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// `993.0` → `993` (a float that is a whole number in the range where floats are exact).
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64())
                && f.fract() == 0.0
                && f.abs() <= MAX_EXACT_FLOAT
            {
                *n = (f as i64).into();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// Zeroes every string of a parsed body.
fn wipe(value: &mut serde_json::Value) {
    use serde_json::Value;
    use zeroize::Zeroize;
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
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
        "a map" => "a JSON object".to_string(),
        "a sequence" => "a list".to_string(),
        other if other.starts_with("struct ") => "a JSON object".to_string(),
        other if other.starts_with("enum ") => "one of the documented values".to_string(),
        other if other.starts_with("tuple") => "a list".to_string(),
        other => other.to_string(),
    };
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (got, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let got = got.split(['`', '"']).next().unwrap_or(got).trim();
        let got = match got {
            "null" => "null".to_string(),
            "map" => "a JSON object".to_string(),
            "sequence" => "a list".to_string(),
            g if g.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {g}"),
            g => format!("a {g}"),
        };
        return format!("expected {}, not {got}", plain(expected));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest
            .split_once(", expected ")
            .map_or("another value", |(_, e)| e);
        return format!("the value is out of range: expected {}", plain(expected));
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        if expected.starts_with("struct ") {
            return "expected a JSON object, not a list".to_string();
        }
        return format!("the list has the wrong number of items: expected {expected}");
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

/// An optional whole-number query parameter: absent is `None`; `40` and `40.0` are 40, as JSON
/// Schema counts them (and as JSON bodies read them). Anything else, the empty value
/// (`limit=`) included, is a 400 naming it.
pub fn query_number(
    q: &std::collections::HashMap<String, String>,
    key: &str,
) -> Result<Option<i64>, ApiError> {
    q.get(key)
        .map(|v| {
            let whole = || {
                let f = v.parse::<f64>().ok()?;
                (f.fract() == 0.0 && f.abs() <= MAX_EXACT_FLOAT).then_some(f as i64)
            };
            v.parse::<i64>().ok().or_else(whole).ok_or_else(|| {
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

/// An optional time query parameter: an RFC 3339 time with any offset (`Z`, `+02:00`,
/// `-05:00`; years 0000–9999, before 1970 too) or unix milliseconds. A malformed one is a 400
/// naming it.
pub fn query_time(
    q: &std::collections::HashMap<String, String>,
    key: &str,
) -> Result<Option<i64>, ApiError> {
    let Some(v) = q.get(key).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(ms) = v.parse::<i64>() {
        return Ok(Some(ms));
    }
    rfc3339_ms(v).map(Some).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "{key} must be an RFC 3339 time (2026-11-28T10:00:00Z or 2026-11-28T10:00:00-05:00) or unix milliseconds."
            ),
        )
        .field(key)
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`t`/`z` and a space for `T` allowed, as RFC 3339
/// permits) → unix milliseconds; `None` for anything else.
fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    // A leap second (`:60`) reads as the next second.
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let first3 = format!("{:0<3}", &s[i + 1..i + 1 + digits.min(3)]);
        millis = first3.parse::<i64>().ok()?;
        i += 1 + digits;
    }
    let offset_minutes = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    // Days from 1970-01-01 of the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::{parse_json, query_number, rfc3339_ms, without_values};

    #[test]
    fn whole_numbers_written_with_a_fraction_are_whole_numbers() {
        let v: Option<u16> = parse_json(b"993.0").unwrap();
        assert_eq!(v, Some(993));
        let v: Vec<i64> = parse_json(b"[-5.0, 7, 1e3]").unwrap();
        assert_eq!(v, [-5, 7, 1000]);
        let e = parse_json::<i64>(b"993.5").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "invalid_type"));
        let e = parse_json::<i64>(b"{").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_json"));
    }

    #[test]
    fn rfc3339_times_with_offsets_and_before_1970() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_ms("2026-11-28T10:00:00Z"), Some(1_795_860_000_000));
        assert_eq!(
            rfc3339_ms("2026-11-28T10:00:00-05:00"),
            Some(1_795_860_000_000 + 5 * 3_600_000)
        );
        assert_eq!(
            rfc3339_ms("2026-11-28t15:30:00.25+05:30"),
            Some(1_795_860_000_000 + 250)
        );
        assert_eq!(rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(rfc3339_ms("1900-03-01T00:00:00Z"), Some(-2_203_891_200_000));
        assert_eq!(rfc3339_ms("2024-02-29 00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(rfc3339_ms("2016-12-31T23:59:60Z"), Some(1_483_228_800_000));
        for bad in [
            "2026-11-28",
            "2026-11-28T10:00:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T10:00:61Z",
            "2026-11-28T10:00:00.Z",
            "2026-11-28T10:00:00+5:00",
            "2026-11-28T10:00:00+05:00junk",
            "２026-11-28T10:00:00Z",
        ] {
            assert_eq!(rfc3339_ms(bad), None, "{bad}");
        }
    }

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
        assert_eq!(
            without_values("invalid type: null, expected struct ConnectionOverrides"),
            "expected a JSON object, not null"
        );
        assert_eq!(
            without_values("invalid type: map, expected a sequence"),
            "expected a list, not a JSON object"
        );
        assert_eq!(
            without_values(
                "invalid length 0, expected struct ConnectionOverrides with 11 elements"
            ),
            "expected a JSON object, not a list"
        );
    }

    #[test]
    fn query_numbers_are_whole_numbers_and_never_empty() {
        let q = |v: &str| std::collections::HashMap::from([("limit".to_string(), v.to_string())]);
        assert_eq!(query_number(&q("40"), "limit").unwrap(), Some(40));
        assert_eq!(query_number(&q("40.0"), "limit").unwrap(), Some(40));
        assert_eq!(query_number(&q("-3"), "limit").unwrap(), Some(-3));
        assert_eq!(query_number(&q("40"), "before").unwrap(), None);
        for bad in ["", "40.5", "x", "NaN", "inf", " 4"] {
            let e = query_number(&q(bad), "limit").unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "invalid_query"),
                "{bad:?}"
            );
        }
    }
}

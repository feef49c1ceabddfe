//! Extractors whose rejections are [`ApiError`]s, so every bad request gets problem+json.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{StatusCode, header, request::Parts};
use jobs_domain::{FieldError, JobId, TenantId};
use serde::de::DeserializeOwned;
use serde_json::{Number, Value};
use uuid::Uuid;

/// The tenant behind the request's API key, within its request rate.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let tenant = state.api_keys.authenticate(authorization).await?;
        state.rate_limit.check(tenant)?;
        Ok(Tenant(tenant))
    }
}

/// The `{id}` of a job route. An id that is not a UUID can name no job, so it
/// is a 404 like any unknown id.
#[derive(Debug, Clone, Copy)]
pub struct JobIdPath(pub JobId);

impl<S: Send + Sync> FromRequestParts<S> for JobIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        Uuid::parse_str(&raw)
            .map(|id| JobIdPath(JobId(id)))
            .map_err(|_| ApiError::NotFound)
    }
}

/// A JSON body: 415 unless `application/json`, 413 over the limit, 400 when
/// not JSON, 422 naming the field when JSON of the wrong shape.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .rsplit_once('+')
            .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
}

/// The field a serde error is about; a missing field is reported at the parent, so name it.
pub(crate) fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => String::new(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// What a client is told about a number [`out_of_range_number`] finds.
const NUMBER_RANGE: &str = "numbers must be from -9223372036854775808 to \
                            18446744073709551615; send larger ones as strings";

/// Where a JSON text's parse is: inside an object (at which key, or waiting for
/// one) or an array (at which index).
enum Frame {
    Object { key: String, expecting_key: bool },
    Array { index: usize },
}

/// The field path (as serde_path_to_error writes it: `payload.a[1].b`) of the
/// first number in `json` outside the 64-bit integer range. serde_json reads a
/// larger integer as an `f64`, silently dropping digits, so it must be caught
/// in the text, before parsing. `json` must already be known to be valid JSON.
fn out_of_range_number(json: &[u8]) -> Option<String> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&byte) = json.get(i) {
        match byte {
            b'{' => stack.push(Frame::Object {
                key: String::new(),
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' | b':' => match stack.last_mut() {
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = byte == b',',
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let end = string_end(json, i);
                if let Some(Frame::Object {
                    key,
                    expecting_key: true,
                }) = stack.last_mut()
                {
                    let literal = &json[i..end];
                    *key = serde_json::from_slice(literal)
                        .unwrap_or_else(|_| String::from_utf8_lossy(literal).into_owned());
                }
                i = end;
                continue;
            }
            b'-' | b'0'..=b'9' => {
                let end = json[i..]
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(json.len(), |n| i + n);
                if !in_range(&json[i..end]) {
                    return Some(path_of(&stack));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index just past the string literal that starts at `start`.
fn string_end(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&byte) = json.get(i) {
        match byte {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    json.len()
}

/// `i64::MIN..=u64::MAX` as `f64`s: -2^63 is `i64::MIN` exactly, and 2^64 is
/// the first `f64` above `u64::MAX`.
const INTEGER_RANGE: std::ops::Range<f64> =
    -9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0;

/// Whether a number token lies within `i64::MIN..=u64::MAX`; integers are
/// checked exactly, fractions and exponents by their `f64` value.
fn in_range(token: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(token) else {
        return false;
    };
    if text.contains(['.', 'e', 'E']) {
        text.parse::<f64>()
            .is_ok_and(|value| INTEGER_RANGE.contains(&value))
    } else {
        text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok()
    }
}

/// Rewrites `15.0` or `1e2` as the integer it is. JSON Schema, and so the
/// OpenAPI document, counts them as integers, but serde refuses them where an
/// integer is expected. Runs after [`out_of_range_number`], so every whole
/// `f64` here fits an `i64` or a `u64`.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) => {
            // serde_json may round a token just under 2^64 up to it, which would saturate.
            let whole = |f: &f64| f.fract() == 0.0 && INTEGER_RANGE.contains(f);
            if let Some(float) = number.as_f64().filter(|f| number.is_f64() && whole(f)) {
                // Exact: a whole f64 within range converts without rounding.
                let whole = if float < 0.0 {
                    Number::from(float as i64)
                } else {
                    Number::from(float as u64)
                };
                *number = whole;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

/// `payload.a[1].b` for the frames from the root in.
fn path_of(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object { key, .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(state.max_body_bytes)
            } else {
                ApiError::Malformed(rejection.body_text())
            }
        })?;
        let mut value: Value = serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::Malformed(format!("the body is not valid JSON: {err}")))?;
        if let Some(field) = out_of_range_number(&bytes) {
            return Err(ApiError::invalid(&field, NUMBER_RANGE));
        }
        whole_numbers_as_integers(&mut value);
        let parsed = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            ApiError::Invalid(vec![FieldError::new(field_of(&path, &message), message)])
        })?;
        Ok(JsonBody(parsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_become_integers_and_fractions_stay() {
        let mut value: Value =
            serde_json::from_str(r#"{"a":15.0,"b":[1e2,-3.0,-0.0],"c":1.5,"d":1e19}"#)
                .expect("json");
        whole_numbers_as_integers(&mut value);
        assert_eq!(
            value.to_string(),
            r#"{"a":15,"b":[100,-3,0],"c":1.5,"d":10000000000000000000}"#
        );
        // Just under 2^64, but serde_json's parse may round it up: never saturate.
        let mut edge: Value = serde_json::from_str("1.8446744073709550e19").expect("json");
        whole_numbers_as_integers(&mut edge);
        assert_ne!(edge.as_u64(), Some(u64::MAX));
    }

    #[test]
    fn numbers_beyond_64_bit_integers_are_found_with_their_path() {
        let cases = [
            (r#"{"a":18446744073709551616}"#, Some("a")),
            (r#"{"a":-9223372036854775809}"#, Some("a")),
            (r#"{"a":1e300}"#, Some("a")),
            (r#"{"a":[0,[1,2E20]]}"#, Some("a[1][1]")),
            (
                r#"{"p":{"x":"1e999","y":{"z":[{"w":-1e19}]}}}"#,
                Some("p.y.z[0].w"),
            ),
            (r#"{"k\"e,y:":1e400}"#, Some("k\"e,y:")),
            (r#"[1, 99999999999999999999]"#, Some("[1]")),
            (
                r#"{"a":18446744073709551615,"b":-9223372036854775808,"c":1.5e19}"#,
                None,
            ),
            (
                r#"{"s":"123456789012345678901234567890","n":-0.0,"t":[true,null]}"#,
                None,
            ),
        ];
        for (json, path) in cases {
            assert_eq!(
                out_of_range_number(json.as_bytes()).as_deref(),
                path,
                "{json}"
            );
        }
    }
}

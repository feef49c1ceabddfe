//! The value a job type's limit is kept per: a JSON pointer (RFC 6901) into
//! the payload, such as `/user_id`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The longest pointer accepted, in characters.
pub const MAX_POINTER_CHARS: usize = 200;

/// The longest key value kept, in bytes; longer values are refused at submit,
/// so one payload field cannot grow an index entry without bound.
pub const MAX_KEY_VALUE_BYTES: usize = 200;

/// A JSON pointer into a payload, checked when a type is defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PayloadKey(String);

impl PayloadKey {
    /// Checks a pointer: `/` then reference tokens, `~` only as `~0` or `~1`.
    pub fn parse(pointer: &str) -> Result<Self, String> {
        if !pointer.starts_with('/') || pointer.chars().count() > MAX_POINTER_CHARS {
            return Err(format!(
                "must be a JSON pointer such as `/user_id`: `/` then a field name, at most {MAX_POINTER_CHARS} characters"
            ));
        }
        let mut chars = pointer.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err("`~` must be escaped as `~0`, and `/` in a name as `~1`".to_owned());
            }
            if c.is_control() {
                return Err("must not contain control characters".to_owned());
            }
        }
        Ok(PayloadKey(pointer.to_owned()))
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The field the pointer names, as a field error reports it: `payload.user_id`.
    pub fn field(&self) -> String {
        let mut field = String::from("payload");
        for token in self.0.split('/').skip(1) {
            field.push('.');
            field.push_str(&token.replace("~1", "/").replace("~0", "~"));
        }
        field
    }

    /// The key value in `payload`: a string as it is, a number or a boolean
    /// as its JSON text. Anything else (absent, null, an object, an array, a
    /// string over [`MAX_KEY_VALUE_BYTES`]) is an error saying why.
    pub fn value_in(&self, payload: &Value) -> Result<String, String> {
        let value = match payload.pointer(&self.0) {
            None | Some(Value::Null) => {
                return Err(format!(
                    "is required: the type's limits are kept per `{}`",
                    self.0
                ));
            }
            Some(Value::String(text)) => text.clone(),
            Some(value @ (Value::Number(_) | Value::Bool(_))) => value.to_string(),
            Some(Value::Array(_) | Value::Object(_)) => {
                return Err(format!(
                    "must be a string, number or boolean: the type's limits are kept per `{}`",
                    self.0
                ));
            }
        };
        if value.len() > MAX_KEY_VALUE_BYTES {
            return Err(format!(
                "must be at most {MAX_KEY_VALUE_BYTES} bytes: the type's limits are kept per its value"
            ));
        }
        Ok(value)
    }
}

impl TryFrom<String> for PayloadKey {
    type Error = String;
    fn try_from(pointer: String) -> Result<Self, Self::Error> {
        PayloadKey::parse(&pointer)
    }
}

impl From<PayloadKey> for String {
    fn from(key: PayloadKey) -> Self {
        key.0
    }
}

impl fmt::Display for PayloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key value of a limit kept per `key` (`None`: one limit for the whole
/// type, whose key value is the empty string).
pub fn key_value(key: Option<&PayloadKey>, payload: &Value) -> Result<String, String> {
    key.map_or(Ok(String::new()), |key| key.value_in(payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pointer_must_start_with_a_slash_and_escape_tildes() {
        assert!(PayloadKey::parse("/user_id").is_ok());
        assert!(PayloadKey::parse("/a~1b/c~0d").is_ok());
        assert!(PayloadKey::parse("user_id").is_err());
        assert!(PayloadKey::parse("").is_err());
        assert!(PayloadKey::parse("/a~2").is_err());
        assert!(PayloadKey::parse("/a~").is_err());
        assert!(PayloadKey::parse(&format!("/{}", "x".repeat(MAX_POINTER_CHARS))).is_err());
        // Characters, as the OpenAPI document's maxLength counts them.
        assert!(PayloadKey::parse(&format!("/{}", "é".repeat(MAX_POINTER_CHARS - 1))).is_ok());
    }

    #[test]
    fn strings_numbers_and_booleans_are_key_values_and_nothing_else_is() {
        let key = PayloadKey::parse("/user/id").expect("pointer");
        assert_eq!(
            key.value_in(&json!({"user": {"id": "u1"}})),
            Ok("u1".into())
        );
        assert_eq!(key.value_in(&json!({"user": {"id": 42}})), Ok("42".into()));
        assert_eq!(
            key.value_in(&json!({"user": {"id": true}})),
            Ok("true".into())
        );
        assert!(key.value_in(&json!({"user": {}})).is_err());
        assert!(key.value_in(&json!({"user": {"id": null}})).is_err());
        assert!(key.value_in(&json!({"user": {"id": [1]}})).is_err());
        assert!(key.value_in(&json!({"user": {"id": {"a": 1}}})).is_err());
        let long = "x".repeat(MAX_KEY_VALUE_BYTES + 1);
        assert!(key.value_in(&json!({"user": {"id": long}})).is_err());
        assert_eq!(key.field(), "payload.user.id");
    }

    #[test]
    fn without_a_key_the_whole_type_shares_one_key_value() {
        assert_eq!(key_value(None, &json!({})), Ok(String::new()));
    }
}

//! The job types the service knows and the payload each one accepts. The API
//! checks payloads here before storing a job; the worker's handlers read the
//! same payload types, so both sides agree by construction.

mod email;
mod http;
mod sleep;

pub use email::{EmailPayload, mask_address};
pub use http::HttpPayload;
pub use sleep::SleepPayload;

use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

/// Why a payload does not fit its job type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// No job type of that name is registered.
    #[error("unknown job type `{0}`; known types: {known}", known = KNOWN_TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", "))]
    UnknownType(String),
    /// The payload does not match the type's schema; the string says where.
    #[error("{0}")]
    Invalid(String),
}

/// A payload that can check the rules serde cannot express.
pub trait Payload: DeserializeOwned {
    /// Checks semantic rules after deserialisation.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Parses and validates a payload of type `P`.
pub fn parse_payload<P: Payload>(payload: &Value) -> Result<P, PayloadError> {
    let parsed: P = serde_path_to_error::deserialize(payload).map_err(|err| {
        let path = err.path().to_string();
        if path == "." {
            PayloadError::Invalid(err.into_inner().to_string())
        } else {
            PayloadError::Invalid(format!("{path}: {}", err.into_inner()))
        }
    })?;
    parsed.validate().map_err(PayloadError::Invalid)?;
    Ok(parsed)
}

/// The payload of the `noop` type: any JSON object, ignored.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NoopPayload(
    /// The object as given.
    pub serde_json::Map<String, Value>,
);

impl Payload for NoopPayload {}

/// One registered job type.
pub struct JobTypeSpec {
    /// The `type` clients submit.
    pub name: &'static str,
    /// Checks a payload for this type.
    pub check: fn(&Value) -> Result<(), PayloadError>,
}

fn check<P: Payload>(payload: &Value) -> Result<(), PayloadError> {
    parse_payload::<P>(payload).map(drop)
}

/// Every job type; a new type is one line here and one handler in the worker.
pub const KNOWN_TYPES: &[JobTypeSpec] = &[
    JobTypeSpec {
        name: "http",
        check: check::<HttpPayload>,
    },
    JobTypeSpec {
        name: "email",
        check: check::<EmailPayload>,
    },
    JobTypeSpec {
        name: "noop",
        check: check::<NoopPayload>,
    },
    JobTypeSpec {
        name: "sleep",
        check: check::<SleepPayload>,
    },
];

/// Checks that `job_type` is registered and `payload` fits it.
pub fn validate_payload(job_type: &str, payload: &Value) -> Result<(), PayloadError> {
    let spec = KNOWN_TYPES
        .iter()
        .find(|spec| spec.name == job_type)
        .ok_or_else(|| PayloadError::UnknownType(job_type.to_owned()))?;
    (spec.check)(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_types_are_rejected_with_the_known_list() {
        let err = validate_payload("fax", &json!({})).expect_err("must be refused");
        assert!(matches!(err, PayloadError::UnknownType(_)));
        assert!(err.to_string().contains("http, email, noop, sleep"));
    }

    #[test]
    fn noop_accepts_any_object_but_not_a_scalar() {
        assert!(validate_payload("noop", &json!({"anything": [1, 2]})).is_ok());
        assert!(validate_payload("noop", &json!(3)).is_err());
    }

    #[test]
    fn invalid_payload_errors_name_the_field() {
        let err = validate_payload("sleep", &json!({"ms": "long"})).expect_err("must be refused");
        assert!(err.to_string().starts_with("ms:"), "{err}");
    }
}

//! What the core asks of the job types: does a payload fit the named type?
//! The types themselves live outside the core (they run code with I/O); a
//! catalogue of them implements [`PayloadCheck`].

use crate::submission::FieldError;
use serde_json::Value;
use thiserror::Error;

/// Answers whether a payload fits a job type.
pub trait PayloadCheck {
    /// `Ok` when `job_type` exists and `payload` fits it.
    fn check(&self, job_type: &str, payload: &Value) -> Result<(), PayloadError>;
}

/// Why a payload does not fit its job type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// No job type of that name exists; the client must pick one of `known`.
    #[error("unknown job type `{name}`; known types: {known}")]
    UnknownType {
        /// The name given.
        name: String,
        /// The types that exist, comma-separated.
        known: String,
    },
    /// The payload does not match the type's schema; the string says where.
    #[error("{0}")]
    Invalid(String),
    /// The payload breaks these rules of the type's schema, each at its field.
    #[error("the payload does not match the job type's schema")]
    Fields(Vec<FieldError>),
}

//! What a job type is: a name, a payload type, and the code that runs one
//! attempt with the parsed payload.

use async_trait::async_trait;
use jobs_domain::{Job, Outcome, PayloadError};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// One job type: its name, its payload and how an attempt runs.
#[async_trait]
pub trait JobType: Send + Sync + Sized + 'static {
    /// The `type` clients submit.
    const NAME: &'static str;
    /// What a job of this type carries; checked at submit, parsed again
    /// before each run; its schema is the type's in the OpenAPI document.
    type Payload: Payload + utoipa::PartialSchema + Send;

    /// Sets the type up from the handlers' settings (clients, transports).
    /// Call it inside a Tokio runtime: a connection pool may start a task.
    fn build(settings: &crate::HandlerSettings) -> Result<Self, SetupError>;

    /// Runs one attempt of `job`, returning the result to store. The worker
    /// bounds the run with the job's timeout and drops it when that passes.
    ///
    /// `cancel` fires when a client cancels the job while it runs (or the
    /// worker lost the job's lease). A handler that can stop early should
    /// then return [`HandlerError::Cancelled`] soon: the worker waits a
    /// moment (about a second) for it and then drops the run. A success
    /// returned all the same stands; anything else ends the job `cancelled`.
    async fn run(
        &self,
        payload: Self::Payload,
        job: &Job,
        cancel: &CancellationToken,
    ) -> Result<Value, HandlerError>;
}

/// A payload that can check the rules serde cannot express.
pub trait Payload: DeserializeOwned {
    /// Checks semantic rules after deserialisation.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Parses and validates a payload of type `P`; the error names the field.
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

/// How a run failed. The message becomes the job's `error` and is logged, so
/// it must hold no secret (headers, credentials) and no unmasked address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// May pass on another attempt: the job goes back to pending while it has attempts left.
    #[error("{0}")]
    Retryable(String),
    /// Like [`HandlerError::Retryable`], but the next attempt should run no
    /// sooner than `after` from now: the far end asked for it (`Retry-After`).
    #[error("{error}")]
    RetryableAfter {
        /// What failed, as for [`HandlerError::Retryable`].
        error: String,
        /// The earliest the next attempt should start, from now. It is the
        /// far end's word, unclamped: bound it by the schedule's own maximum.
        after: Duration,
    },
    /// No retry can fix it: the job fails now.
    #[error("{0}")]
    Permanent(String),
    /// The run stopped because its cancellation token fired. Return it only
    /// then: a run that says so unasked fails its job as a permanent error.
    #[error("the run was cancelled")]
    Cancelled,
}

impl From<PayloadError> for HandlerError {
    fn from(err: PayloadError) -> Self {
        // The API checked the payload on submit, so this is a stored job from
        // an older schema: retrying cannot change it.
        HandlerError::Permanent(format!("invalid payload: {err}"))
    }
}

impl From<HandlerError> for Outcome {
    fn from(err: HandlerError) -> Self {
        match err {
            // The delay is not carried into the schedule yet: Pub/Sub's backoff applies.
            HandlerError::Retryable(error) | HandlerError::RetryableAfter { error, .. } => {
                Outcome::Retryable(error)
            }
            HandlerError::Permanent(error) => Outcome::Permanent(error),
            // The worker records a cancellation it asked for itself; this one nobody did.
            HandlerError::Cancelled => Outcome::Permanent(
                "the handler stopped as if cancelled, but no cancel was requested".to_owned(),
            ),
        }
    }
}

/// A job type that cannot be set up from its settings; start-up stops with it.
#[derive(Debug, Error)]
#[error("the `{job_type}` job type cannot start: {message}")]
pub struct SetupError {
    /// The type's name.
    pub job_type: &'static str,
    /// Why; it names the setting at fault and never quotes a secret.
    pub message: String,
}

//! Why a failed job failed.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// Why a job is `failed`; set exactly while it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum FailureReason {
    /// The handler failed in a way no retry can fix.
    PermanentError,
    /// The last attempt failed with a retryable error.
    AttemptsExhausted,
    /// The last attempt ran out of time: the handler's timeout, or a lease
    /// that expired without an outcome (its worker died).
    TimedOut,
    /// Pub/Sub kept dead-lettering the job without an attempt running, or
    /// dead-lettered it with its attempts spent.
    DeadLettered,
    /// The job's type was deleted (or never had a handler) before it ran.
    TypeDeleted,
}

impl FailureReason {
    /// The name used in JSON and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::PermanentError => "permanent_error",
            FailureReason::AttemptsExhausted => "attempts_exhausted",
            FailureReason::DeadLettered => "dead_lettered",
            FailureReason::TimedOut => "timed_out",
            FailureReason::TypeDeleted => "type_deleted",
        }
    }
}

impl std::str::FromStr for FailureReason {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        use FailureReason::*;
        [PermanentError, AttemptsExhausted, TimedOut, DeadLettered, TypeDeleted]
            .into_iter()
            .find(|reason| reason.as_str() == name)
            .ok_or_else(|| {
                "must be one of permanent_error, attempts_exhausted, timed_out, dead_lettered, type_deleted"
                    .to_owned()
            })
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

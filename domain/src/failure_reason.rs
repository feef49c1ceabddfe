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
    /// The last attempt failed (a retryable error, a timeout, or a lease that expired).
    AttemptsExhausted,
    /// Pub/Sub kept dead-lettering the job without an attempt running, or
    /// dead-lettered it with its attempts spent.
    DeadLettered,
}

impl FailureReason {
    /// The name used in JSON and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::PermanentError => "permanent_error",
            FailureReason::AttemptsExhausted => "attempts_exhausted",
            FailureReason::DeadLettered => "dead_lettered",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The job status enum.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use thiserror::Error;
use utoipa::ToSchema;

/// Where a job is in its life; each variant says who moves a job out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum JobStatus {
    /// Stored and waiting for a delivery. A worker's claim moves it to
    /// `processing`; the API's cancel moves it to `cancelled`; a dead-letter
    /// delivery moves it to `failed`.
    Pending,
    /// A worker holds a lease on it, and extends it while the handler runs.
    /// The worker's outcome moves it to `completed`, `pending` (retryable
    /// error), `failed` or, when a client asked to cancel it meanwhile,
    /// `cancelled`; when the lease expires a redelivery claims it again (or
    /// cancels it, if its cancel was requested).
    Processing,
    /// The handler succeeded. Final: nothing moves it.
    Completed,
    /// A permanent error, exhausted attempts, or dead-lettered. The API's
    /// retry moves it back to `pending`.
    Failed,
    /// Cancelled through the API: before it ran, or while it ran and before
    /// its handler succeeded. The API's retry moves it back to `pending`.
    Cancelled,
}

impl JobStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The name used in JSON, SQL and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// True when no worker will touch the job again without an API retry.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no job status.
#[derive(Debug, Error)]
#[error(
    "unknown job status `{0}`; expected one of pending, processing, completed, failed, cancelled"
)]
pub struct UnknownStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

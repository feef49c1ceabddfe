//! One entry of a job's transition history.

use crate::job_status::JobStatus;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One transition in a job's `job_events` history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct JobHistoryEntry {
    /// Status before the transition; absent for the submission itself.
    pub from_status: Option<JobStatus>,
    /// Status after the transition.
    pub to_status: JobStatus,
    /// What happened, e.g. `claimed`, `failed_retryable`, `dead_lettered`.
    pub event: String,
    /// The job's attempt count after the transition.
    pub attempt: i32,
    /// The error or reason that came with it.
    pub detail: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

//! How long finished jobs are kept: defaults from the settings, and a job
//! type's own values over them.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// How long jobs are kept after they finish, by final status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Completed jobs.
    pub completed: Duration,
    /// Failed jobs.
    pub failed: Duration,
    /// Cancelled jobs.
    pub cancelled: Duration,
}

/// A job type's own retention; what it leaves out keeps the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionOverride {
    /// Seconds a completed job is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_seconds: Option<u32>,
    /// Seconds a failed job is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_seconds: Option<u32>,
    /// Seconds a cancelled job is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_seconds: Option<u32>,
}

//! How long finished jobs are kept before the reconciler deletes them.

use clap::Args;
use jobs_domain::Retention;
use jobs_runtime::settings::parse_seconds;
use std::time::Duration;

/// The default retention of finished jobs (a job type may set its own) and
/// how many are deleted per reconciler pass.
#[derive(Debug, Clone, Copy, Args)]
pub struct RetentionSettings {
    /// Seconds a completed job is kept (7 days).
    #[arg(long = "retention-completed", env = "RETENTION_COMPLETED_SECONDS", value_name = "RETENTION_COMPLETED_SECONDS",
          default_value = "604800", value_parser = parse_seconds)]
    pub completed: Duration,
    /// Seconds a failed job is kept (30 days).
    #[arg(long = "retention-failed", env = "RETENTION_FAILED_SECONDS", value_name = "RETENTION_FAILED_SECONDS",
          default_value = "2592000", value_parser = parse_seconds)]
    pub failed: Duration,
    /// Seconds a cancelled job is kept (30 days).
    #[arg(long = "retention-cancelled", env = "RETENTION_CANCELLED_SECONDS", value_name = "RETENTION_CANCELLED_SECONDS",
          default_value = "2592000", value_parser = parse_seconds)]
    pub cancelled: Duration,
    /// Most jobs deleted per reconciler pass, so no statement holds its locks for long.
    #[arg(long = "retention-batch-size", env = "RETENTION_BATCH_SIZE", value_name = "RETENTION_BATCH_SIZE",
          default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub delete_batch_size: u32,
}

impl RetentionSettings {
    /// The defaults, as the store takes them.
    pub fn defaults(&self) -> Retention {
        Retention {
            completed: self.completed,
            failed: self.failed,
            cancelled: self.cancelled,
        }
    }
}

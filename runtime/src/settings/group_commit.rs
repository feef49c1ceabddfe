//! How the job store coalesces concurrent writes (group commit).

use clap::Args;
use clap::builder::TypedValueParser;
use jobs_domain::GroupCommit;
use std::time::Duration;

/// Whether and how concurrent submits, claims and outcomes share statements.
#[derive(Debug, Clone, Copy, Args)]
pub struct GroupCommitSettings {
    /// Coalesce concurrent writes into one statement per batch; `false`
    /// writes each alone (one statement and one commit per call).
    #[arg(long = "group-commit", env = "GROUP_COMMIT", value_name = "GROUP_COMMIT",
          default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// The most calls one statement carries.
    #[arg(long = "group-commit-max-batch", env = "GROUP_COMMIT_MAX_BATCH",
          value_name = "GROUP_COMMIT_MAX_BATCH", default_value_t = GroupCommit::DEFAULT.max_batch,
          value_parser = clap::value_parser!(u16).range(1..=1000).map(usize::from))]
    pub max_batch: usize,
    /// Milliseconds a batch waits for more calls after its first; 0 takes
    /// only what queued while earlier batches were written.
    #[arg(long = "group-commit-window-ms", env = "GROUP_COMMIT_WINDOW_MS",
          value_name = "GROUP_COMMIT_WINDOW_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=1000).map(u64::from))]
    pub window_ms: u64,
    /// Batches of each operation (submits, claims, state changes) written at
    /// once, each on a pooled connection.
    #[arg(long = "group-commit-in-flight", env = "GROUP_COMMIT_IN_FLIGHT",
          value_name = "GROUP_COMMIT_IN_FLIGHT", default_value_t = GroupCommit::DEFAULT.in_flight,
          value_parser = clap::value_parser!(u16).range(1..=64).map(usize::from))]
    pub in_flight: usize,
}

impl GroupCommitSettings {
    /// The store's grouping, or `None` when group commit is off.
    pub fn group_commit(&self) -> Option<GroupCommit> {
        self.enabled.then(|| GroupCommit {
            max_batch: self.max_batch,
            window: Duration::from_millis(self.window_ms),
            in_flight: self.in_flight,
        })
    }
}

//! Settings shared by the binaries, one struct per concern and a file each,
//! read from the environment (or flags) with clap and checked at start.
//! A binary's own settings live in its crate's `settings/` folder.

mod database;
mod group_commit;
mod job_limits;
mod listen;
mod log;
mod pubsub;
mod trace;

pub use database::DatabaseSettings;
pub use group_commit::GroupCommitSettings;
pub use job_limits::JobLimits;
pub use listen::ListenSettings;
pub use log::{LogFormat, LogSettings};
pub use pubsub::PubSubSettings;
pub use trace::TraceSettings;

use crate::telemetry::Traces;
use clap::Args;
use std::time::Duration;

/// What every server needs: where it listens, its database, logs, traces, Pub/Sub and
/// the bounds of every job. Each server's settings flatten it once.
#[derive(Debug, Clone, Args)]
pub struct ServerSettings {
    /// Where to listen, and the shutdown drain.
    #[command(flatten)]
    pub listen: ListenSettings,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Group commit of the job store's writes.
    #[command(flatten)]
    pub group_commit: GroupCommitSettings,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Where traces are exported.
    #[command(flatten)]
    pub trace: TraceSettings,
    /// Where job messages are published.
    #[command(flatten)]
    pub pubsub: PubSubSettings,
    /// The bounds of every job: the API checks submissions against them and
    /// the worker cuts runs at the longest timeout.
    #[command(flatten)]
    pub job_limits: JobLimits,
}

impl ServerSettings {
    /// What the server's spans are, `service` (`jobs-api`) naming them
    /// unless `OTEL_SERVICE_NAME` does.
    pub fn traces<'a>(&'a self, service: &'a str) -> Traces<'a> {
        Traces {
            settings: &self.trace,
            service,
            project: &self.pubsub.project,
        }
    }
}

/// A setting that is valid alone but not with the others; start-up stops
/// with it, and the message names the environment variable to fix.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct SettingError {
    /// The environment variable at fault.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Parses a whole number of seconds, at least one.
pub fn parse_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("`{value}` is not a whole number of seconds >= 1")),
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
    }
}

/// Parses seconds with an optional fraction (`0.2`, `5`), more than zero.
pub fn parse_fractional_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() && seconds <= 1e9 => {
            Ok(Duration::from_secs_f64(seconds))
        }
        _ => Err(format!("`{value}` is not a number of seconds > 0")),
    }
}

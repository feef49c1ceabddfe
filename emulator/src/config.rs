//! The emulator's settings: where it listens, its default project, and its timing.

use crate::time_scale::TimeScale;

/// The host the emulator listens on by default.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The port the emulator listens on by default, the `PUBSUB_EMULATOR_HOST` convention.
pub const DEFAULT_PORT: u16 = 8085;
/// The project used for setup names given without `projects/P/…`.
pub const DEFAULT_PROJECT: &str = "local-project";
/// Push requests in flight per subscription, so a failing endpoint is not hammered.
pub const DEFAULT_PUSH_CONCURRENCY: usize = 16;

/// Settings for one emulator instance.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulatorConfig {
    /// `host:port` to listen on; port 0 picks a free port.
    pub bind: String,
    /// The project that short setup names belong to.
    pub project: String,
    /// Divides every ack deadline and redelivery backoff.
    pub time_scale: TimeScale,
    /// Push requests in flight per subscription (at least 1).
    pub push_concurrency: usize,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            bind: format!("{DEFAULT_HOST}:{DEFAULT_PORT}"),
            project: DEFAULT_PROJECT.to_owned(),
            time_scale: TimeScale::REAL,
            push_concurrency: DEFAULT_PUSH_CONCURRENCY,
        }
    }
}

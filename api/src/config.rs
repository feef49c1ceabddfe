//! The API's settings: one typed struct, read from the environment (or flags) and checked at start.

use clap::Args;
use jobs_domain::SubmissionLimits;
use jobs_domain::config::{
    DatabaseSettings, ListenSettings, LogSettings, PubSubSettings, parse_seconds,
};
use std::time::Duration;

/// Everything the API process needs to start.
#[derive(Debug, Clone, Args)]
pub struct ApiConfig {
    /// Where to listen, and the shutdown drain.
    #[command(flatten)]
    pub listen: ListenSettings,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Pub/Sub settings.
    #[command(flatten)]
    pub pubsub: PubSubSettings,
    /// Apply pending migrations before serving (handy locally; use the `migrate` job in production).
    #[arg(long, env = "MIGRATE_ON_START", value_name = "MIGRATE_ON_START", default_value_t = false, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", value_name = "MAX_BODY_BYTES", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=10 * 1024 * 1024))]
    pub max_body_bytes: u32,
    /// `max_attempts` of a job that gives none.
    #[arg(long, env = "JOB_DEFAULT_MAX_ATTEMPTS", value_name = "JOB_DEFAULT_MAX_ATTEMPTS", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub default_max_attempts: i32,
    /// Highest `max_attempts` a client may ask for.
    #[arg(long, env = "JOB_MAX_ATTEMPTS_LIMIT", value_name = "JOB_MAX_ATTEMPTS_LIMIT", default_value_t = 100,
          value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub max_attempts_limit: i32,
    /// `timeout_seconds` of a job that gives none.
    #[arg(long, env = "JOB_DEFAULT_TIMEOUT_SECONDS", value_name = "JOB_DEFAULT_TIMEOUT_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(i32).range(1..=3600))]
    pub default_timeout_seconds: i32,
    /// Highest `timeout_seconds`: keep it under the push subscription's ack deadline (600 s at most).
    #[arg(long, env = "JOB_MAX_TIMEOUT_SECONDS", value_name = "JOB_MAX_TIMEOUT_SECONDS", default_value_t = 540,
          value_parser = clap::value_parser!(i32).range(1..=3600))]
    pub max_timeout_seconds: i32,
    /// Furthest into the future a job may be scheduled, in seconds.
    #[arg(long, env = "JOB_MAX_DELAY_SECONDS", value_name = "JOB_MAX_DELAY_SECONDS", default_value_t = 30 * 24 * 3600,
          value_parser = clap::value_parser!(i64).range(0..))]
    pub max_delay_seconds: i64,
    /// How long a verified API key is trusted before it is looked up again (revocation delay).
    #[arg(long, env = "API_KEY_CACHE_SECONDS", value_name = "API_KEY_CACHE_SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub api_key_cache: Duration,
}

/// A setting that is valid alone but not with the others.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ApiConfig {
    /// The submission bounds, after checking the settings agree with each other.
    pub fn limits(&self) -> Result<SubmissionLimits, ConfigError> {
        if self.default_max_attempts > self.max_attempts_limit {
            return Err(ConfigError {
                setting: "JOB_DEFAULT_MAX_ATTEMPTS",
                message: format!(
                    "must not exceed JOB_MAX_ATTEMPTS_LIMIT ({})",
                    self.max_attempts_limit
                ),
            });
        }
        if self.default_timeout_seconds > self.max_timeout_seconds {
            return Err(ConfigError {
                setting: "JOB_DEFAULT_TIMEOUT_SECONDS",
                message: format!(
                    "must not exceed JOB_MAX_TIMEOUT_SECONDS ({})",
                    self.max_timeout_seconds
                ),
            });
        }
        Ok(SubmissionLimits {
            default_max_attempts: self.default_max_attempts,
            max_max_attempts: self.max_attempts_limit,
            default_timeout_seconds: self.default_timeout_seconds,
            max_timeout_seconds: self.max_timeout_seconds,
            max_delay_seconds: self.max_delay_seconds,
        })
    }
}

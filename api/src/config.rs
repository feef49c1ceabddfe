//! The API's settings: one typed struct, read from the environment (or flags) and checked at start.

use clap::Args;
use governor::Quota;
use jobs_domain::SubmissionLimits;
use jobs_domain::config::{
    DatabaseSettings, ListenSettings, LogSettings, PubSubSettings, parse_seconds,
};
use std::num::NonZeroU32;
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
    /// Requests per second each tenant may make, across its keys; 0 leaves them unlimited.
    #[arg(
        long,
        env = "TENANT_RATE_LIMIT",
        value_name = "TENANT_RATE_LIMIT",
        default_value_t = 0
    )]
    pub tenant_rate_limit: u32,
    /// Requests a tenant may make at once above its rate; 0 means as many as TENANT_RATE_LIMIT.
    #[arg(
        long,
        env = "TENANT_RATE_BURST",
        value_name = "TENANT_RATE_BURST",
        default_value_t = 0
    )]
    pub tenant_rate_burst: u32,
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

    /// Each tenant's request quota, or `None` when unlimited.
    pub fn tenant_quota(&self) -> Result<Option<Quota>, ConfigError> {
        let Some(rate) = NonZeroU32::new(self.tenant_rate_limit) else {
            if self.tenant_rate_burst > 0 {
                return Err(ConfigError {
                    setting: "TENANT_RATE_BURST",
                    message: "has no effect without TENANT_RATE_LIMIT; set both or neither"
                        .to_owned(),
                });
            }
            return Ok(None);
        };
        let burst = NonZeroU32::new(self.tenant_rate_burst).unwrap_or(rate);
        Ok(Some(Quota::per_second(rate).allow_burst(burst)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ApiConfig,
    }

    fn parse(args: &[&str]) -> Result<ApiConfig, clap::Error> {
        let argv = std::iter::once("api").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.config)
    }

    #[test]
    fn by_default_tenants_are_not_rate_limited() {
        let config = parse(&[]).expect("defaults parse");
        assert_eq!(config.tenant_quota().expect("consistent"), None);
    }

    #[test]
    fn the_burst_defaults_to_the_rate() {
        let config = parse(&["--tenant-rate-limit", "50"]).expect("parses");
        let quota = config.tenant_quota().expect("consistent").expect("a quota");
        assert_eq!(quota.burst_size().get(), 50);
        let config =
            parse(&["--tenant-rate-limit", "50", "--tenant-rate-burst", "200"]).expect("parses");
        let quota = config.tenant_quota().expect("consistent").expect("a quota");
        assert_eq!(quota.burst_size().get(), 200);
    }

    #[test]
    fn a_burst_without_a_rate_is_refused_naming_the_setting() {
        let config = parse(&["--tenant-rate-burst", "10"]).expect("parses");
        let err = config.tenant_quota().expect_err("must be refused");
        assert_eq!(err.setting, "TENANT_RATE_BURST");
    }

    #[test]
    fn a_bad_value_is_refused_naming_the_variable() {
        for (flag, value, variable) in [
            ("--tenant-rate-limit", "-1", "TENANT_RATE_LIMIT"),
            ("--max-body-bytes", "12", "MAX_BODY_BYTES"),
            ("--api-key-cache", "soon", "API_KEY_CACHE_SECONDS"),
        ] {
            let err = parse(&[&format!("{flag}={value}")])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value} must be refused"));
            assert!(err.to_string().contains(variable), "{err}");
        }
    }
}

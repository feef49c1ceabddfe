//! The bounds every job is held to: the API checks submissions against them
//! and the worker cuts any run at the longest timeout.

use super::SettingError;
use clap::Args;
use jobs_domain::SubmissionLimits;
use std::time::Duration;

/// Ten years, the furthest JOB_MAX_DELAY_SECONDS may reach.
const MAX_DELAY_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// Defaults and upper bounds of a job's attempts, timeout and delay.
#[derive(Debug, Clone, Copy, Args)]
pub struct JobLimits {
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
    /// The longest one attempt of any job may run: the API refuses a larger
    /// `timeout_seconds`, and the worker cuts every run at it. Keep it under
    /// the push subscription's ack deadline (600 s at most).
    #[arg(long, env = "JOB_MAX_TIMEOUT_SECONDS", value_name = "JOB_MAX_TIMEOUT_SECONDS", default_value_t = 540,
          value_parser = clap::value_parser!(i32).range(1..=3600))]
    pub max_timeout_seconds: i32,
    /// Furthest into the future a job may be scheduled, in seconds (at most
    /// ten years, so no `run_at` can leave the range PostgreSQL and the API's
    /// clock arithmetic hold).
    #[arg(long, env = "JOB_MAX_DELAY_SECONDS", value_name = "JOB_MAX_DELAY_SECONDS", default_value_t = 30 * 24 * 3600,
          value_parser = clap::value_parser!(i64).range(0..=MAX_DELAY_SECONDS))]
    pub max_delay_seconds: i64,
}

impl JobLimits {
    /// The submission bounds, after checking the settings agree with each other.
    pub fn submission_limits(&self) -> Result<SubmissionLimits, SettingError> {
        if self.default_max_attempts > self.max_attempts_limit {
            return Err(SettingError {
                setting: "JOB_DEFAULT_MAX_ATTEMPTS",
                message: format!(
                    "must not exceed JOB_MAX_ATTEMPTS_LIMIT ({})",
                    self.max_attempts_limit
                ),
            });
        }
        if self.default_timeout_seconds > self.max_timeout_seconds {
            return Err(SettingError {
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

    /// The cap on any one run.
    pub fn max_timeout(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.max_timeout_seconds).unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: JobLimits,
    }

    fn parse(args: &[&str]) -> Result<JobLimits, clap::Error> {
        let argv = std::iter::once("api").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.limits)
    }

    #[test]
    fn by_default_jobs_run_at_most_540_seconds_and_submissions_agree() {
        let limits = parse(&[]).expect("defaults parse");
        assert_eq!(limits.max_timeout(), Duration::from_secs(540));
        let submission = limits.submission_limits().expect("consistent");
        assert_eq!(submission, SubmissionLimits::default());
    }

    #[test]
    fn limits_past_what_the_schema_and_the_clock_hold_are_refused_naming_the_variable() {
        for (flag, variable) in [
            ("--max-attempts-limit=1001", "JOB_MAX_ATTEMPTS_LIMIT"),
            ("--max-timeout-seconds=3601", "JOB_MAX_TIMEOUT_SECONDS"),
            (
                "--max-delay-seconds=9223372036854775807",
                "JOB_MAX_DELAY_SECONDS",
            ),
        ] {
            let err = parse(&[flag])
                .err()
                .unwrap_or_else(|| panic!("{flag} must be refused"));
            assert!(err.to_string().contains(variable), "{err}");
        }
    }

    #[test]
    fn a_default_above_its_limit_is_refused_naming_the_setting() {
        let limits =
            parse(&["--default-timeout-seconds=600", "--max-timeout-seconds=60"]).expect("parses");
        let err = limits.submission_limits().expect_err("must be refused");
        assert_eq!(err.setting, "JOB_DEFAULT_TIMEOUT_SECONDS");
        let limits =
            parse(&["--default-max-attempts=9", "--max-attempts-limit=3"]).expect("parses");
        let err = limits.submission_limits().expect_err("must be refused");
        assert_eq!(err.setting, "JOB_DEFAULT_MAX_ATTEMPTS");
    }
}

//! The command line of the `jobs` client: every command, its arguments and
//! its help, as clap reads them.

use super::input::{Json, parse_duration, parse_time};
use chrono::{DateTime, Utc};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use jobs_client::{FailureReason, JobStatus, Uuid};
use std::path::PathBuf;
use std::time::Duration;

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Submit, follow and manage background jobs through the jobs API.
///
/// The API's URL and key come from JOBS_API_URL and JOBS_API_KEY (or
/// --api-url and --api-key). Output is a table for people; --json prints
/// the API's objects as JSON, stable for scripts.
///
/// Exit status: 0 done; 1 a job ended failed or cancelled (--wait, wait),
/// or the API refused the request (404, 409, 422, …); 2 a usage error;
/// 3 the API could not be used: unreachable (connection refused, DNS,
/// timeout), the key refused (401, 403), rate-limited (429) or unavailable
/// (5xx).
#[derive(Debug, Parser)]
#[command(name = "jobs", version, arg_required_else_help = true)]
pub struct Cli {
    /// Where the API is and who calls it.
    #[command(flatten)]
    pub connection: Connection,
    /// Print JSON (the API's objects, stable for scripts) instead of tables.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the API is and who calls it.
#[derive(Debug, Args)]
pub struct Connection {
    /// The jobs API's base URL.
    #[arg(
        long,
        env = "JOBS_API_URL",
        value_name = "URL",
        global = true,
        help_heading = GLOBAL,
        default_value = "http://127.0.0.1:8080"
    )]
    pub api_url: String,
    /// An API key of your tenant (`jk_…`; `api keys create --tenant NAME` makes
    /// one). Prefer the variable: other users of the machine see command lines.
    #[arg(
        long,
        env = "JOBS_API_KEY",
        value_name = "KEY",
        global = true,
        help_heading = GLOBAL,
        hide_env_values = true
    )]
    pub api_key: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a job.
    ///
    /// Stores the job as pending and prints it; with --wait, waits until it
    /// ends and prints it as it ended (exit 1 when it failed or was
    /// cancelled). Options left out take the job type's defaults.
    Submit(SubmitArgs),
    /// Show one job: its status, payload, result, error, attempts and times.
    Get {
        /// The job's id.
        id: Uuid,
    },
    /// List jobs, newest first.
    ///
    /// One page (--limit, default 20) unless --all; the next page's token is
    /// printed to stderr (with --json it is `next_page_token`).
    List(ListArgs),
    /// Count your jobs: by status, by type, the last hour's throughput and the oldest waiting job.
    ///
    /// The numbers the dashboard's overview (`/ui`) charts: jobs in each
    /// status, per type too, jobs completed and failed in each of the last
    /// 60 minutes, and the due pending job that was submitted first.
    Stats,
    /// Show a job's history: each transition, oldest first.
    Events {
        /// The job's id.
        id: Uuid,
    },
    /// Wait until jobs end; each read waits on the server up to --interval for its job to end.
    ///
    /// On a terminal a progress bar counts the jobs that ended; otherwise a
    /// line `ID STATUS` is printed as each ends. Exit 0 when every job
    /// completed, 1 when one failed or was cancelled.
    Wait(WaitArgs),
    /// Cancel a pending job (the API refuses one that is not pending).
    Cancel {
        /// The job's id.
        id: Uuid,
    },
    /// Run a failed or cancelled job again, or every failed job matching --failed's filters.
    ///
    /// `retry ID` sends one job back to pending with at least one more
    /// attempt. `retry --failed [--type T] [--failure-reason R]` does so for
    /// every failed job the filters match, oldest first, 1,000 per request,
    /// and prints how many went back.
    Retry(RetryArgs),
    /// Submit the jobs of a file at once: a JSON array, or JSON lines.
    ///
    /// Each item is a submit as `POST /v1/jobs` takes it
    /// (`{"type": "noop", "payload": {…}, "idempotency_key": "…"}`). Up to
    /// 500 jobs are stored all or none; a longer file is sent 500 at a time,
    /// so give the jobs idempotency keys to make a re-run safe.
    Batch(BatchArgs),
    /// List, show, define, delete your job types, and rotate their secrets.
    #[command(subcommand)]
    Types(TypesCommand),
    /// List, show, create, delete, pause and resume periodic schedules.
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Create or rotate the secret that signs your completion callbacks.
    #[command(subcommand, name = "callback-secret")]
    CallbackSecret(CallbackSecretCommand),
}

/// `jobs submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job type (`noop`, `http`, `email`, `sleep`, or one of yours).
    #[arg(value_name = "TYPE")]
    pub job_type: String,
    /// The payload: JSON, `@FILE` to read it from a file, or `@-` from stdin.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub payload: Json,
    /// Makes the submit safe to repeat: the same key and payload give the original job.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Run no sooner than this from now: `30s`, `5m`, `2h`, `1d`, `1h30m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "run_at")]
    pub delay: Option<Duration>,
    /// Run no sooner than this time (RFC 3339, such as 2026-12-24T18:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub run_at: Option<DateTime<Utc>>,
    /// Attempts allowed (at most the type's).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Longest an attempt may run, in seconds (at most the type's).
    #[arg(long, value_name = "SECONDS")]
    pub timeout_seconds: Option<u32>,
    /// Where to POST the job when it ends (your tenant needs a callback secret).
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
    /// Wait until the job ends; exit 1 when it failed or was cancelled.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long each read waits on the server for the job to end.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s", requires = "wait")]
    pub interval: Duration,
}

/// `jobs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only jobs in this status.
    #[arg(long, value_name = "STATUS", value_parser = status_parser())]
    pub status: Option<JobStatus>,
    /// Only jobs of this type.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Only failed jobs that failed for this reason.
    #[arg(long, value_name = "REASON", value_parser = reason_parser())]
    pub failure_reason: Option<FailureReason>,
    /// Only jobs that finished at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub finished_after: Option<DateTime<Utc>>,
    /// Only jobs that finished before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub finished_before: Option<DateTime<Utc>>,
    /// Only jobs the schedule of this name enqueued.
    #[arg(long, value_name = "NAME")]
    pub schedule: Option<String>,
    /// Only the job submitted with this idempotency key.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Jobs per page, 1 to 100 (default 20; 100 with --all).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Start at this page (the token a previous page printed).
    #[arg(long, value_name = "TOKEN", conflicts_with = "all")]
    pub page_token: Option<String>,
    /// Every page, not just the first.
    #[arg(long)]
    pub all: bool,
}

/// `jobs wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The jobs' ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<Uuid>,
    /// How often to read each job that has not ended.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
}

/// `jobs retry`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["id", "failed"]))]
pub struct RetryArgs {
    /// The failed or cancelled job to run again.
    pub id: Option<Uuid>,
    /// Instead of one job, every failed job the filters below match.
    #[arg(long)]
    pub failed: bool,
    /// With --failed: only jobs of this type.
    #[arg(long = "type", value_name = "TYPE", requires = "failed")]
    pub job_type: Option<String>,
    /// With --failed: only jobs that failed for this reason.
    #[arg(long, value_name = "REASON", value_parser = reason_parser(), requires = "failed")]
    pub failure_reason: Option<FailureReason>,
    /// With --failed: only jobs that finished at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "failed")]
    pub finished_after: Option<DateTime<Utc>>,
    /// With --failed: only jobs that finished before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time, requires = "failed")]
    pub finished_before: Option<DateTime<Utc>>,
    /// With --failed: send back at most this many jobs (default: all that match).
    #[arg(long, value_name = "N", requires = "failed")]
    pub limit: Option<u64>,
}

/// `jobs batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The file of jobs, or `-` for stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `jobs types …`.
#[derive(Debug, Subcommand)]
pub enum TypesCommand {
    /// List the built-in job types and yours.
    List,
    /// Show one job type (never its secret).
    Get {
        /// The type's name.
        name: String,
    },
    /// Define a job type, or replace yours of that name.
    ///
    /// The definition is JSON as `PUT /v1/job-types/{name}` takes it:
    /// `{"handler": {"target": {"url": "…", "auth": {"kind": "hmac"}}},
    /// "payload_schema": {…}, "max_attempts": 8, "retry": {…}}`. A new hmac
    /// target's secret is printed this once: keep it.
    Put {
        /// The type's name: 1 to 100 of a-z, 0-9, `.`, `_`, `-`, starting with a letter.
        name: String,
        /// The definition: JSON, `@FILE`, or `@-` for stdin.
        #[arg(long, value_name = "JSON|@FILE")]
        definition: Json,
    },
    /// Delete one of your job types; its jobs that have not run fail.
    Delete {
        /// The type's name.
        name: String,
    },
    /// Give an hmac job type a new secret, printed this once; the old one stops verifying.
    RotateSecret {
        /// The type's name.
        name: String,
    },
}

/// `jobs schedules …`.
#[derive(Debug, Subcommand)]
pub enum SchedulesCommand {
    /// List your schedules, by name.
    List,
    /// Show one schedule, with its next and last runs.
    Get {
        /// The schedule's name.
        name: String,
    },
    /// Create a schedule, or replace yours of that name.
    ///
    /// Each occurrence of the cron pattern, read in the time zone, enqueues
    /// one job of --type with --payload. The job is checked as a submit of it
    /// would be.
    Put(PutScheduleArgs),
    /// Delete a schedule; the jobs it enqueued stay.
    Delete {
        /// The schedule's name.
        name: String,
    },
    /// Pause a schedule: it enqueues nothing until resumed.
    Pause {
        /// The schedule's name.
        name: String,
    },
    /// Resume a schedule from now on (occurrences missed while paused are not enqueued).
    Resume {
        /// The schedule's name.
        name: String,
    },
}

/// `jobs schedules put`.
#[derive(Debug, Args)]
pub struct PutScheduleArgs {
    /// The schedule's name: 1 to 100 of a-z, 0-9, `.`, `_`, `-`, starting with a letter.
    pub name: String,
    /// The cron pattern: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first.
    #[arg(long, value_name = "PATTERN")]
    pub cron: String,
    /// The IANA time zone the pattern is read in (the API's default: UTC).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// The type of the jobs it enqueues.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: String,
    /// Their payload: JSON, `@FILE`, or `@-` for stdin.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    pub payload: Json,
    /// Their attempts allowed (at most the type's).
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// Their longest attempt, in seconds (at most the type's).
    #[arg(long, value_name = "SECONDS")]
    pub timeout_seconds: Option<u32>,
    /// Store it paused: it enqueues nothing until resumed.
    #[arg(long)]
    pub paused: bool,
}

/// `jobs callback-secret …`.
#[derive(Debug, Subcommand)]
pub enum CallbackSecretCommand {
    /// Create the secret, or replace it; printed this once: keep it.
    Create,
}

/// Parses one of `values`' names (listed in the help) into its value.
fn wire_parser<T>(
    values: &'static [T],
    name: fn(&T) -> &'static str,
) -> impl TypedValueParser<Value = T>
where
    T: Copy + Send + Sync + 'static,
{
    PossibleValuesParser::new(values.iter().map(name)).try_map(move |text| {
        values
            .iter()
            .copied()
            .find(|value| name(value) == text)
            .ok_or_else(|| format!("`{text}` is not one of the values"))
    })
}

fn status_parser() -> impl TypedValueParser<Value = JobStatus> {
    wire_parser(JobStatus::ALL, |status| status.as_str())
}

fn reason_parser() -> impl TypedValueParser<Value = FailureReason> {
    wire_parser(FailureReason::ALL, |reason| reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_help_that_explains_it() {
        fn check(command: &clap::Command, path: &str) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                assert!(
                    about.split(' ').count() > 2,
                    "`{path}` has no help: {about:?}"
                );
                for arg in sub.get_arguments() {
                    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                    assert!(!help.is_empty(), "`{path}`'s {} has no help", arg.get_id());
                }
                check(sub, &path);
            }
        }
        check(&Cli::command(), "jobs");
    }

    #[test]
    fn statuses_and_reasons_are_offered_by_their_api_names() {
        let cli = Cli::try_parse_from([
            "jobs",
            "list",
            "--status",
            "failed",
            "--failure-reason",
            "dead_lettered",
        ])
        .expect("parses");
        let Command::List(list) = cli.command else {
            panic!("not a list: {:?}", cli.command);
        };
        assert_eq!(list.status, Some(JobStatus::Failed));
        assert_eq!(list.failure_reason, Some(FailureReason::DeadLettered));
        let err =
            Cli::try_parse_from(["jobs", "list", "--status", "done"]).expect_err("no such status");
        assert!(err.to_string().contains("pending"), "{err}");
    }

    #[test]
    fn retry_takes_an_id_or_failed_and_the_filters_go_with_failed() {
        assert!(Cli::try_parse_from(["jobs", "retry"]).is_err());
        assert!(Cli::try_parse_from(["jobs", "retry", "--type", "http"]).is_err());
        assert!(Cli::try_parse_from(["jobs", "retry", "--failed", "--type", "http"]).is_ok());
        let id = "0199c3a4-0000-7000-8000-000000000001";
        assert!(Cli::try_parse_from(["jobs", "retry", id]).is_ok());
        assert!(Cli::try_parse_from(["jobs", "retry", id, "--failed"]).is_err());
    }
}

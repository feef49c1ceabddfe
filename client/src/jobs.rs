//! `/v1/jobs`: submit (one or a batch), read, list, cancel, retry (one, or the
//! failed ones by a filter) and a job's history.

use crate::{Client, Error, Saved};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// The longest server-side wait `GET /v1/jobs/{id}?wait_seconds=` takes.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// A string enum of the API: its variants, their wire names, `Display`,
/// `FromStr` and the list of all of them.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in the API's order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name the API uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(text: &str) -> Result<Self, ParseError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| ParseError {
                        what: stringify!($name),
                        text: text.to_owned(),
                        expected: $name::ALL.iter().map(|value| value.as_str()).collect(),
                    })
            }
        }
    };
}

wire_enum! {
    /// Where a job is in its life.
    pub enum JobStatus {
        /// Stored, waiting to run (or to be retried).
        Pending = "pending",
        /// A worker runs it now.
        Processing = "processing",
        /// Its handler succeeded; the result is in `result`.
        Completed = "completed",
        /// It failed for good; `failure_reason` and `error` say why.
        Failed = "failed",
        /// A client cancelled it before it ran.
        Cancelled = "cancelled",
    }
}

impl JobStatus {
    /// True for the statuses a job stays in unless a client retries it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

wire_enum! {
    /// Why a job is `failed`.
    pub enum FailureReason {
        /// Its handler or target gave an error no retry can fix.
        PermanentError = "permanent_error",
        /// Its last attempt failed with a retryable error.
        AttemptsExhausted = "attempts_exhausted",
        /// Its last attempt ran out of time.
        TimedOut = "timed_out",
        /// Pub/Sub could not deliver it, again and again.
        DeadLettered = "dead_lettered",
        /// Its job type was deleted before it ran.
        TypeDeleted = "type_deleted",
    }
}

/// A text that names no value of a string enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {what}: expected one of {}", expected.join(", "))]
pub struct ParseError {
    what: &'static str,
    text: String,
    expected: Vec<&'static str>,
}

/// A job, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// Its id (a UUIDv7).
    pub id: Uuid,
    /// Its job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Where it is in its life.
    pub status: JobStatus,
    /// The input given at submission.
    pub payload: Value,
    /// The handler's output, once completed.
    #[serde(default)]
    pub result: Option<Value>,
    /// The last error; cleared when a client retries the job.
    #[serde(default)]
    pub error: Option<String>,
    /// Why it failed, while it is `failed`.
    #[serde(default)]
    pub failure_reason: Option<FailureReason>,
    /// Attempts that claimed it so far.
    pub attempts: i32,
    /// Attempts allowed before a retryable error becomes final.
    pub max_attempts: i32,
    /// Longest a single attempt may run, in seconds.
    pub timeout_seconds: i32,
    /// Earliest time it may run.
    pub run_at: DateTime<Utc>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When its first attempt started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The idempotency key it was submitted with, if any.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Where it is POSTed when it ends, if anywhere.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// The schedule that enqueued it; `None` for submitted jobs.
    #[serde(default)]
    pub schedule: Option<String>,
    /// When a client asked to cancel it while it ran; its worker stops it.
    #[serde(default)]
    pub cancel_requested_at: Option<DateTime<Utc>>,
}

/// One transition of a job's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobEvent {
    /// The status before; `None` for the submission itself.
    #[serde(default)]
    pub from_status: Option<JobStatus>,
    /// The status after.
    pub to_status: JobStatus,
    /// What happened: `submitted`, `claimed`, `completed`, `failed_retryable`, ….
    pub event: String,
    /// The job's attempt count after it.
    pub attempt: i32,
    /// The error or reason that came with it.
    #[serde(default)]
    pub detail: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

/// A job to submit (`POST /v1/jobs`, or an item of a batch). The options
/// left `None` take the job type's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The input, a JSON object the type's payload rules accept.
    pub payload: Value,
    /// Makes the submit safe to repeat: the same key and body answer the
    /// original job (1 to 255 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Attempts allowed, at most the type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Longest an attempt may run, in seconds, at most the type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// Earliest time to run; not with `delay_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at: Option<DateTime<Utc>>,
    /// Seconds from now before it may run; not with `run_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u64>,
    /// Where to POST the finished job (the tenant needs a callback secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

impl NewJob {
    /// A job of `job_type` with `payload` and the type's defaults.
    pub fn new(job_type: impl Into<String>, payload: Value) -> NewJob {
        NewJob {
            job_type: job_type.into(),
            payload,
            ..NewJob::default()
        }
    }

    /// The same job under an idempotency key.
    pub fn idempotency_key(self, key: impl Into<String>) -> NewJob {
        NewJob {
            idempotency_key: Some(key.into()),
            ..self
        }
    }

    /// The same job, run no sooner than `delay` from now (whole seconds).
    pub fn delay(self, delay: Duration) -> NewJob {
        NewJob {
            delay_seconds: Some(delay.as_secs()),
            ..self
        }
    }
}

/// Which jobs `GET /v1/jobs` lists; every filter left `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobQuery {
    /// Only jobs in this status.
    pub status: Option<JobStatus>,
    /// Only jobs of this type.
    pub job_type: Option<String>,
    /// Only failed jobs that failed for this reason.
    pub failure_reason: Option<FailureReason>,
    /// Only jobs that finished at or after this time.
    pub finished_after: Option<DateTime<Utc>>,
    /// Only jobs that finished before this time.
    pub finished_before: Option<DateTime<Utc>>,
    /// Only jobs the schedule of this name enqueued.
    pub schedule: Option<String>,
    /// Only the job submitted with this idempotency key.
    pub idempotency_key: Option<String>,
    /// Page size, 1 to 100 (the API's default is 20).
    pub limit: Option<u32>,
    /// [`JobPage::next_page_token`] of the previous page.
    pub page_token: Option<String>,
}

impl JobQuery {
    /// The query's parameters, as the API names them.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let time = |time: &DateTime<Utc>| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        [
            ("status", self.status.map(|status| status.to_string())),
            ("type", self.job_type.clone()),
            (
                "failure_reason",
                self.failure_reason.map(|reason| reason.to_string()),
            ),
            ("finished_after", self.finished_after.as_ref().map(time)),
            ("finished_before", self.finished_before.as_ref().map(time)),
            ("schedule", self.schedule.clone()),
            ("idempotency_key", self.idempotency_key.clone()),
            ("limit", self.limit.map(|limit| limit.to_string())),
            ("page_token", self.page_token.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value)))
        .collect()
    }
}

/// One page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobPage {
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Pass as [`JobQuery::page_token`] for the next page; `None` on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// Which failed jobs `POST /v1/jobs/retry` sends back to pending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetryFailed {
    /// Only jobs of this type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// Only jobs that failed for this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    /// Only jobs that finished at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_after: Option<DateTime<Utc>>,
    /// Only jobs that finished before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_before: Option<DateTime<Utc>>,
    /// Most jobs this call sends back, 1 to 1,000 (the API's default is 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// [`Requeued::next_page_token`] of the previous call, to go on after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// What a bulk retry did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Requeued {
    /// How many failed jobs went back to pending.
    pub requeued: u64,
    /// Pass as [`RetryFailed::page_token`] to go on; `None` when no more matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Serialize)]
struct Batch<'a> {
    jobs: &'a [NewJob],
}

#[derive(Deserialize)]
struct Jobs {
    jobs: Vec<Job>,
}

#[derive(Deserialize)]
struct Events {
    events: Vec<JobEvent>,
}

impl Client {
    /// `POST /v1/jobs`: stores a job as pending. `created` is false when
    /// the idempotency key replayed an earlier submit (its job is answered).
    pub async fn submit(&self, job: &NewJob) -> Result<Saved<Job>, Error> {
        let request = self.request(Method::POST, self.url(&["v1", "jobs"])?);
        self.save(request.json(job)).await
    }

    /// `POST /v1/jobs/batch`: stores 1 to 500 jobs at once, or none (a bad
    /// item is a 422 naming `jobs/<index>/<field>`). The jobs in order; a
    /// replayed idempotency key answers the original job.
    pub async fn submit_batch(&self, jobs: &[NewJob]) -> Result<Vec<Job>, Error> {
        let request = self.request(Method::POST, self.url(&["v1", "jobs", "batch"])?);
        let answer: Jobs = self.fetch(request.json(&Batch { jobs })).await?;
        Ok(answer.jobs)
    }

    /// `GET /v1/jobs/{id}`: one job.
    pub async fn get_job(&self, id: Uuid) -> Result<Job, Error> {
        let id = id.to_string();
        let request = self.request(Method::GET, self.url(&["v1", "jobs", &id])?);
        self.fetch(request).await
    }

    /// `GET /v1/jobs`: one page of the jobs `query` matches, newest first.
    pub async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, Error> {
        let mut url = self.url(&["v1", "jobs"])?;
        let pairs = query.pairs();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        self.fetch(self.request(Method::GET, url)).await
    }

    /// `POST /v1/jobs/{id}/cancel`: a pending job becomes cancelled; a
    /// running one is returned with `cancel_requested_at` set, and its worker
    /// stops it (unless its handler finishes first); a finished one is
    /// [`Error::Conflict`].
    pub async fn cancel_job(&self, id: Uuid) -> Result<Job, Error> {
        let id = id.to_string();
        let request = self.request(Method::POST, self.url(&["v1", "jobs", &id, "cancel"])?);
        self.fetch(request).await
    }

    /// `POST /v1/jobs/{id}/retry`: a failed or cancelled job is pending
    /// again, with at least one more attempt ([`Error::Conflict`] otherwise).
    pub async fn retry_job(&self, id: Uuid) -> Result<Job, Error> {
        let id = id.to_string();
        let request = self.request(Method::POST, self.url(&["v1", "jobs", &id, "retry"])?);
        self.fetch(request).await
    }

    /// `POST /v1/jobs/retry`: the failed jobs `filter` matches (at most its
    /// `limit`, oldest first) are pending again; call again with the
    /// answer's `next_page_token` to go on.
    pub async fn retry_failed(&self, filter: &RetryFailed) -> Result<Requeued, Error> {
        let request = self.request(Method::POST, self.url(&["v1", "jobs", "retry"])?);
        self.fetch(request.json(filter)).await
    }

    /// `GET /v1/jobs/{id}/events`: the job's transitions, oldest first.
    pub async fn job_events(&self, id: Uuid) -> Result<Vec<JobEvent>, Error> {
        let id = id.to_string();
        let request = self.request(Method::GET, self.url(&["v1", "jobs", &id, "events"])?);
        let answer: Events = self.fetch(request).await?;
        Ok(answer.events)
    }

    /// `GET /v1/jobs/{id}?wait_seconds=N`: the job as soon as it is final,
    /// or as it is when `wait` (at most 60 s, whole seconds) has passed.
    pub async fn get_job_waiting(&self, id: Uuid, wait: Duration) -> Result<Job, Error> {
        let id = id.to_string();
        let mut url = self.url(&["v1", "jobs", &id])?;
        let seconds = wait.as_secs().min(MAX_WAIT_SECONDS);
        url.query_pairs_mut()
            .append_pair("wait_seconds", &seconds.to_string());
        self.fetch(self.request(Method::GET, url)).await
    }

    /// Waits until the job is completed, failed or cancelled, and answers it
    /// as it ended: each read waits on the server (`wait_seconds`) for up to
    /// `interval`, at least a second. A 429 or 503 waits for its
    /// `Retry-After` and goes on; any other error ends the wait.
    pub async fn wait_for_job(&self, id: Uuid, interval: Duration) -> Result<Job, Error> {
        let wait = interval.max(Duration::from_secs(1));
        loop {
            let pause = match self.get_job_waiting(id, wait).await {
                Ok(job) if job.status.is_final() => return Ok(job),
                Ok(_) => Duration::ZERO,
                Err(err) if err.is_transient() => err.retry_after().unwrap_or(interval),
                Err(err) => return Err(err),
            };
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn statuses_and_reasons_read_and_print_as_the_api_names_them() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(*status));
            assert_eq!(json!(status), json!(status.as_str()));
        }
        for reason in FailureReason::ALL {
            assert_eq!(reason.as_str().parse::<FailureReason>(), Ok(*reason));
        }
        let err = "done".parse::<JobStatus>().expect_err("not a status");
        assert_eq!(
            err.to_string(),
            "`done` is not a JobStatus: expected one of pending, processing, completed, failed, cancelled"
        );
        assert_eq!(
            JobStatus::ALL
                .iter()
                .filter(|status| status.is_final())
                .count(),
            3
        );
    }

    #[test]
    fn a_submit_sends_only_the_options_it_sets() {
        let job = NewJob::new("noop", json!({"n": 1}))
            .idempotency_key("k")
            .delay(Duration::from_secs(30));
        assert_eq!(
            serde_json::to_value(&job).expect("serializes"),
            json!({"type": "noop", "payload": {"n": 1}, "idempotency_key": "k", "delay_seconds": 30})
        );
    }

    #[test]
    fn a_query_names_its_parameters_as_the_api_does() {
        let query = JobQuery {
            status: Some(JobStatus::Failed),
            job_type: Some("http".to_owned()),
            failure_reason: Some(FailureReason::DeadLettered),
            finished_after: Some(
                Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                    .single()
                    .expect("a time"),
            ),
            idempotency_key: Some("order 42".to_owned()),
            limit: Some(5),
            ..JobQuery::default()
        };
        assert_eq!(
            query.pairs(),
            [
                ("status", "failed".to_owned()),
                ("type", "http".to_owned()),
                ("failure_reason", "dead_lettered".to_owned()),
                ("finished_after", "2026-12-01T00:00:00Z".to_owned()),
                ("idempotency_key", "order 42".to_owned()),
                ("limit", "5".to_owned()),
            ]
        );
        assert!(JobQuery::default().pairs().is_empty());
    }
}

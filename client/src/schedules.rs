//! `/v1/schedules`: the tenant's periodic schedules, each a cron pattern in a
//! time zone and the job each occurrence enqueues.

use crate::{Client, Error, Saved};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A schedule, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schedule {
    /// Its name, unique per tenant; its jobs carry it as `schedule`.
    pub name: String,
    /// The cron pattern: 5 fields, or 6 with seconds first.
    pub cron: String,
    /// The IANA time zone the pattern is read in.
    pub timezone: String,
    /// The job each occurrence enqueues, with its limits resolved.
    pub job: ScheduledJob,
    /// True while it enqueues nothing.
    pub paused: bool,
    /// When the next job is enqueued; `None` while paused.
    #[serde(default)]
    pub next_run_at: Option<DateTime<Utc>>,
    /// The occurrence the last job was enqueued for.
    #[serde(default)]
    pub last_run_at: Option<DateTime<Utc>>,
    /// The last job enqueued.
    #[serde(default)]
    pub last_job_id: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a client last changed it.
    pub updated_at: DateTime<Utc>,
}

/// The job a schedule enqueues, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScheduledJob {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The job's input.
    pub payload: Value,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Longest an attempt may run, in seconds.
    pub timeout_seconds: i32,
}

/// A schedule, as `PUT /v1/schedules/{name}` takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDefinition {
    /// 5 fields (minute hour day-of-month month day-of-week), or 6 with
    /// seconds first.
    pub cron: String,
    /// The IANA time zone the pattern is read in; the API's default is `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The job each occurrence enqueues, checked as a submit of it would be.
    pub job: JobTemplate,
    /// Stored paused: it enqueues nothing until resumed.
    #[serde(default)]
    pub paused: bool,
}

/// The job a schedule enqueues: a type, its payload and its limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The input, a JSON object the type's payload rules accept.
    pub payload: Value,
    /// Attempts allowed, at most the type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Longest an attempt may run, in seconds, at most the type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
}

#[derive(Deserialize)]
struct Schedules {
    schedules: Vec<Schedule>,
}

impl Client {
    /// `GET /v1/schedules`: the tenant's schedules, by name.
    pub async fn list_schedules(&self) -> Result<Vec<Schedule>, Error> {
        let request = self.request(Method::GET, self.url(&["v1", "schedules"])?);
        let answer: Schedules = self.fetch(request).await?;
        Ok(answer.schedules)
    }

    /// `GET /v1/schedules/{name}`: one schedule, with its next and last runs.
    pub async fn get_schedule(&self, name: &str) -> Result<Schedule, Error> {
        let request = self.request(Method::GET, self.url(&["v1", "schedules", name])?);
        self.fetch(request).await
    }

    /// `PUT /v1/schedules/{name}`: creates the schedule (`created`), or
    /// replaces the tenant's schedule of that name (which keeps its last run).
    pub async fn put_schedule(
        &self,
        name: &str,
        definition: &ScheduleDefinition,
    ) -> Result<Saved<Schedule>, Error> {
        let request = self.request(Method::PUT, self.url(&["v1", "schedules", name])?);
        self.save(request.json(definition)).await
    }

    /// `DELETE /v1/schedules/{name}`: deletes the schedule; the jobs it
    /// enqueued stay.
    pub async fn delete_schedule(&self, name: &str) -> Result<(), Error> {
        let request = self.request(Method::DELETE, self.url(&["v1", "schedules", name])?);
        self.execute(request).await
    }

    /// `POST /v1/schedules/{name}/pause`: it enqueues nothing until resumed.
    pub async fn pause_schedule(&self, name: &str) -> Result<Schedule, Error> {
        let url = self.url(&["v1", "schedules", name, "pause"])?;
        self.fetch(self.request(Method::POST, url)).await
    }

    /// `POST /v1/schedules/{name}/resume`: its next run is the first
    /// occurrence from now (none missed while paused is enqueued).
    pub async fn resume_schedule(&self, name: &str) -> Result<Schedule, Error> {
        let url = self.url(&["v1", "schedules", name, "resume"])?;
        self.fetch(self.request(Method::POST, url)).await
    }
}

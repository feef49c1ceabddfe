//! `/v1/stats`: the tenant's jobs in numbers.

use crate::{Client, Error};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many jobs are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatusCounts {
    /// Jobs waiting to run (due or delayed).
    pub pending: i64,
    /// Jobs a worker is running.
    pub processing: i64,
    /// Jobs that succeeded.
    pub completed: i64,
    /// Jobs that failed for good (until retried).
    pub failed: i64,
    /// Jobs that were cancelled.
    pub cancelled: i64,
}

/// The status counts of one job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TypeCounts {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// Its jobs in each status.
    pub counts: StatusCounts,
}

/// The jobs that finished in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MinuteCounts {
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// Jobs that completed in it.
    pub completed: i64,
    /// Jobs that failed in it (and are still failed).
    pub failed: i64,
}

/// The due pending job that has waited longest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OldestPending {
    /// Its id.
    pub id: Uuid,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// Whole seconds since it was submitted.
    pub age_seconds: i64,
}

/// The tenant's jobs in numbers, as `GET /v1/stats` answers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobStats {
    /// When the numbers were read.
    pub as_of: DateTime<Utc>,
    /// Every job, by status.
    pub by_status: StatusCounts,
    /// The same per job type, by name.
    pub by_type: Vec<TypeCounts>,
    /// Jobs completed and failed in each of the last 60 minutes, oldest first.
    pub per_minute: Vec<MinuteCounts>,
    /// The due pending job submitted first; `None` when none waits.
    #[serde(default)]
    pub oldest_pending: Option<OldestPending>,
}

impl Client {
    /// `GET /v1/stats`: counts of the tenant's jobs by status and type, the
    /// last hour's throughput per minute, and the oldest due pending job.
    pub async fn stats(&self) -> Result<JobStats, Error> {
        let request = self.request(Method::GET, self.url(&["v1", "stats"])?);
        self.fetch(request).await
    }
}

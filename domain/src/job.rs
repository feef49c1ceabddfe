//! The job record, its ids, and a validated job ready to store.

use crate::failure_reason::FailureReason;
use crate::job_status::JobStatus;
use crate::state_machine::JobState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use utoipa::ToSchema;
use uuid::Uuid;

/// A job's id: a UUIDv7, so ids sort by creation time and keyset pages are newest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// A new time-ordered id.
    pub fn new() -> Self {
        JobId(Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The tenant every job and API key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct TenantId(pub Uuid);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A job as stored, and as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Job {
    /// Unique id (UUIDv7).
    #[schema(value_type = String, format = Uuid)]
    pub id: JobId,
    /// The tenant that owns the job; never shown to clients.
    #[serde(skip)]
    #[sqlx(rename = "tenant_id")]
    pub tenant: TenantId,
    /// The registered job type that runs it.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub job_type: String,
    /// Current status.
    pub status: JobStatus,
    /// The input given at submission.
    pub payload: Value,
    /// The handler's output once completed.
    pub result: Option<Value>,
    /// The last error; cleared when a client retries the job.
    pub error: Option<String>,
    /// Why the job failed, while it is `failed`.
    pub failure_reason: Option<FailureReason>,
    /// Deliveries that claimed the job so far.
    pub attempts: i32,
    /// Claims allowed before a retryable error becomes final.
    pub max_attempts: i32,
    /// Longest a single attempt may run.
    pub timeout_seconds: i32,
    /// Earliest time the job may run.
    pub run_at: DateTime<Utc>,
    /// When the job was stored.
    pub created_at: DateTime<Utc>,
    /// When the job last changed.
    pub updated_at: DateTime<Utc>,
    /// When the first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the job reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// The client's idempotency key, if it gave one; a scheduled job's is its
    /// occurrence (`schedule:<name>:<slot in RFC 3339 UTC>`).
    pub idempotency_key: Option<String>,
    /// Where the finished job is POSTed when it ends, if anywhere.
    pub callback_url: Option<String>,
    /// The name of the schedule that enqueued the job; null for submitted jobs.
    pub schedule: Option<String>,
    /// When a client asked to cancel the job while it was running; null if
    /// none did. The worker running it stops its handler, and the job ends
    /// `cancelled` unless the handler finished first. Cleared by a retry.
    pub cancel_requested_at: Option<DateTime<Utc>>,
}

impl Job {
    /// The part of the job the state machine decides on.
    pub fn state(&self) -> JobState {
        JobState {
            status: self.status,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
        }
    }
}

/// A validated job ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The registered job type.
    pub job_type: String,
    /// The input, already checked against the type's payload schema.
    pub payload: Value,
    /// Claims allowed before a retryable error becomes final.
    pub max_attempts: i32,
    /// Longest a single attempt may run.
    pub timeout_seconds: i32,
    /// Earliest time the job may run; `None` means now.
    pub run_at: Option<DateTime<Utc>>,
    /// The idempotency key and the fingerprint of the request it came with.
    pub idempotency: Option<Idempotency>,
    /// Where the finished job is POSTed when it ends.
    pub callback_url: Option<String>,
    /// The key value the job counts against under its type's concurrency
    /// limit (`DefinedType::concurrency_key`; `""` for a limit without a
    /// key), `None` for a type without a limit. Set after validation, so it
    /// is no part of the request's fingerprint.
    pub concurrency_key: Option<String>,
}

/// An idempotency key with the fingerprint of the request that used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The client's key, unique per tenant.
    pub key: String,
    /// SHA-256 of the canonical request, to tell a replay from a conflict.
    pub request_hash: Vec<u8>,
}

//! The core of the job service: the job model, its state machine, the
//! PostgreSQL job store and the Pub/Sub message schema. Nothing here speaks
//! HTTP or knows about processes (settings, logs, serving: `jobs-runtime`).

pub mod api_keys;
pub mod callback;
pub mod callback_secrets;
pub mod concurrency_limit;
pub mod db;
pub mod failure_reason;
pub mod group_commit;
pub mod job;
pub mod job_history;
pub mod job_message;
pub mod job_stats;
pub mod job_status;
pub mod job_store;
pub mod job_type_store;
pub mod payload_check;
pub mod payload_key;
pub mod rate_limit;
pub mod retention;
pub mod retry_strategy;
pub mod schedule;
pub mod schedule_store;
pub mod state_machine;
pub mod store_error;
pub mod submission;

pub use callback_secrets::CallbackSecrets;
pub use concurrency_limit::ConcurrencyLimit;
pub use failure_reason::FailureReason;
pub use group_commit::GroupCommit;
pub use job::{Idempotency, Job, JobId, NewJob, TenantId};
pub use job_history::JobHistoryEntry;
pub use job_message::JobMessage;
pub use job_stats::{JobStats, MinuteCounts, OldestPending, StatusCounts, TypeCounts};
pub use job_status::JobStatus;
pub use job_store::{Claim, JobFilter, JobPage, JobStore, Recorded, Submitted, Unpublished};
pub use job_type_store::{JobTypeStore, StoredJobType};
pub use payload_check::{PayloadCheck, PayloadError};
pub use payload_key::PayloadKey;
pub use rate_limit::{RateLimit, WhenExceeded};
pub use retention::{Retention, RetentionOverride};
pub use retry_strategy::RetryStrategy;
pub use schedule::{
    CronSchedule, JobTemplate, Occurrence, Schedule, ScheduleDefinition, ScheduledJob,
};
pub use schedule_store::{DueSchedule, Enqueued, ScheduleStore};
pub use state_machine::{
    Cause, DeadLetter, Deferral, DeferralPolicy, ErrorUpdate, JobEvent, JobState, Outcome,
    RequeuePolicy, Transition, TransitionError,
};
pub use store_error::StoreError;
pub use submission::{FieldError, JobSubmission, SubmissionLimits};

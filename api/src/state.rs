//! The state every handler shares, built once from configuration.

use crate::auth::ApiKeys;
use crate::job_waiters::JobWaiters;
use crate::rate_limit::TenantRateLimit;
use jobs_domain::{CallbackSecrets, JobStore, ScheduleStore, SubmissionLimits};
use jobs_job_types::{JobTypeCatalog, SecretBox};
use jobs_runtime::{JobPublisher, Metrics};
use std::sync::Arc;
use std::time::Duration;

/// The state the handlers share: one pointer, since it is cloned for
/// every extractor and middleware of every request (cloning the fields one
/// by one was 4 % of the API's CPU under submit load).
pub type AppState = Arc<Shared>;

/// What the handlers share.
pub struct Shared {
    /// The job store.
    pub jobs: JobStore,
    /// The tenants' sealed callback secrets.
    pub callback_secrets: CallbackSecrets,
    /// The tenants' periodic schedules.
    pub schedules: ScheduleStore,
    /// The tenants' own job types, cached.
    pub job_types: JobTypeCatalog,
    /// Seals HMAC secrets; `None` without JOB_TYPE_SECRETS_KEY.
    pub secret_box: Option<SecretBox>,
    /// Hands new and retried jobs to Pub/Sub.
    pub publisher: JobPublisher,
    /// API-key verification.
    pub api_keys: ApiKeys,
    /// Each tenant's request quota.
    pub rate_limit: TenantRateLimit,
    /// Bounds for submissions.
    pub limits: SubmissionLimits,
    /// Largest request body, in bytes.
    pub max_body_bytes: u32,
    /// The process's metrics, rendered by `GET /metrics`.
    pub metrics: Metrics,
    /// Requests waiting for a job to finish, woken by the `jobs_finished` listener.
    pub waiters: JobWaiters,
    /// Longest wait a request may take, so it answers within HTTP_REQUEST_TIMEOUT_SECONDS.
    pub max_wait: Duration,
}

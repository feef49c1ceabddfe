//! Turning a client's submission into a job ready to store: its type (a
//! tenant's own, from the cache, or a built-in), that type's limits and
//! payload rules, and the rate limit and concurrency key the job counts
//! against; and storing it detached from the request. The single and the
//! batch submit share it.

use crate::error::ApiError;
use crate::state::AppState;
use jobs_domain::{FieldError, JobSubmission, NewJob, RateLimit, TenantId};
use std::future::Future;
use tracing::Instrument;

/// A submission that passed every check.
#[derive(Debug)]
pub struct Prepared {
    /// The job to store.
    pub job: NewJob,
    /// The type's rate limit and the job's key value, when the type has one.
    pub rate_limit: Option<(RateLimit, String)>,
}

/// Checks `submission` for `tenant`; `header_key` is the `Idempotency-Key`
/// header. The outer error is a failure to read the type (503 and the like),
/// the inner one the submission's invalid fields.
pub async fn prepare(
    state: &AppState,
    tenant: TenantId,
    submission: JobSubmission,
    header_key: Option<String>,
) -> Result<Result<Prepared, Vec<FieldError>>, ApiError> {
    // A tenant's own type (cached: no extra round trip on the hot path), or a built-in.
    let defined = match jobs_job_types::check_name(&submission.job_type) {
        Ok(()) => state.job_types.get(tenant, &submission.job_type).await?,
        Err(_) => None,
    };
    let now = chrono::Utc::now();
    let validated = match &defined {
        Some(defined) => submission.validate(
            header_key,
            &defined.limits(&state.limits),
            defined.as_ref(),
            now,
        ),
        None => submission.validate(
            header_key,
            &state.limits,
            &jobs_job_types::BuiltinTypes,
            now,
        ),
    };
    Ok(validated.map(|mut job| {
        // The type's default, after the fingerprint: changing the default
        // later does not turn a replay into a conflict.
        if job.callback_url.is_none() {
            job.callback_url = defined
                .as_ref()
                .and_then(|defined| defined.definition.callback_url.clone());
        }
        // The key value the job counts against when its type limits how many
        // of its jobs run at once: stored with the job, so the worker's claim
        // needs neither the payload nor the pointer.
        job.concurrency_key = defined
            .as_ref()
            .and_then(|defined| defined.concurrency_key(&job.payload))
            .map(|(_, key)| key);
        Prepared {
            rate_limit: defined.as_ref().and_then(|defined| {
                defined
                    .rate_key(&job.payload)
                    .map(|(limit, key)| (limit.clone(), key))
            }),
            job,
        }
    }))
}

/// Refuses jobs with a `callback_url` while the tenant has no callback
/// secret to sign their callbacks with (one read, only when they have one).
pub async fn require_callback_secret<'a>(
    state: &AppState,
    tenant: TenantId,
    mut jobs: impl Iterator<Item = (String, &'a NewJob)>,
) -> Result<(), ApiError> {
    let Some((field, _)) = jobs.find(|(_, job)| job.callback_url.is_some()) else {
        return Ok(());
    };
    if state.callback_secrets.get(tenant).await?.is_none() {
        return Err(ApiError::invalid(
            &field,
            "the tenant has no callback secret yet: create it with POST /v1/callback-secret",
        ));
    }
    Ok(())
}

/// Runs `work` (a store write and the hand-off of what it stored) in a task
/// of its own, so a client that goes away mid-request cannot cancel the
/// hand-off of jobs already committed: they would wait for the reconciler's
/// grace instead. `work` runs in the request's span, so its publish
/// continues the request's trace; a panic in it is raised here, as if it
/// ran inline.
pub async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::spawn(work.instrument(tracing::Span::current())).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Cancelled: the runtime is shutting down.
        Err(_) => Err(ApiError::Unavailable),
    }
}

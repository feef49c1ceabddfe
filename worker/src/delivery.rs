//! One delivery of a job message: claim the job, run its handler under its
//! timeout, record the outcome, and say whether Pub/Sub should redeliver.

use crate::ack::{Ack, AckOutcome};
use crate::error::WorkerError;
use crate::handlers::{HandlerError, Registry};
use crate::state::AppState;
use jobs_domain::metrics::RunOutcome;
use jobs_domain::{Claim, Job, JobMessage, JobStatus, Outcome, Recorded, StoreError};
use std::time::{Duration, Instant};
use tracing::{Instrument, Span};

/// Claims the job `message` names and, when the claim is ours, runs it.
pub async fn deliver(state: &AppState, message: JobMessage) -> Result<Ack, WorkerError> {
    let id = message.job_id;
    let claim = state.jobs.claim(id, state.lease_grace).await?;
    if let Claim::Claimed(job)
    | Claim::Busy(job)
    | Claim::Finished(job)
    | Claim::Exhausted(job)
    | Claim::NotDue(job) = &claim
    {
        // The stored type, not the message's: the database is the authority.
        let span = Span::current();
        span.record("job_type", job.job_type.as_str());
        span.record("attempt", job.attempts);
    }
    match claim {
        Claim::Claimed(job) => {
            if job.job_type != message.job_type {
                tracing::warn!(message_type = %message.job_type, "the message's type differs from the job's; running the job's");
            }
            // Spawned so the outcome is still recorded if Pub/Sub drops the
            // connection at its ack deadline; otherwise the attempt would be lost
            // until the lease expired.
            tokio::spawn(process(state.clone(), job).in_current_span())
                .await
                .map_err(|err| WorkerError::Internal(format!("the delivery task failed: {err}")))?
        }
        Claim::Busy(_) => {
            tracing::info!("another delivery holds the job's lease; nacking");
            Err(WorkerError::Busy(id))
        }
        Claim::Finished(job) => {
            tracing::info!(status = %job.status, "the job is already finished; duplicate acked");
            Ok(Ack::job(AckOutcome::Duplicate, id))
        }
        Claim::Exhausted(job) => {
            tracing::warn!(
                attempts = job.attempts,
                "the lease expired on the last attempt; job failed"
            );
            Ok(Ack::job(AckOutcome::Exhausted, id))
        }
        Claim::NotDue(job) => {
            tracing::info!(run_at = %job.run_at, "the job is not due; acked, it is published again when due");
            Ok(Ack::job(AckOutcome::NotDue, id))
        }
        Claim::NotFound => {
            tracing::warn!("no such job; acked");
            Ok(Ack::job(AckOutcome::NotFound, id))
        }
    }
}

/// Runs a claimed job and records its outcome.
async fn process(state: AppState, job: Job) -> Result<Ack, WorkerError> {
    let limit = run_limit(&job, state.job_max_timeout);
    let started = Instant::now();
    let outcome = run(&state.registry, &job, limit).await;
    let took = started.elapsed();
    state
        .metrics
        .handler_ran(&job.job_type, run_outcome(&outcome), took);
    let elapsed_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    let error = match &outcome {
        Outcome::Succeeded(_) => {
            tracing::info!(elapsed_ms, "handler succeeded");
            None
        }
        Outcome::Retryable(error) => {
            tracing::warn!(elapsed_ms, %error, "handler failed (retryable)");
            Some(error.clone())
        }
        Outcome::Permanent(error) => {
            tracing::warn!(elapsed_ms, %error, "handler failed (permanent)");
            Some(error.clone())
        }
    };
    let recorded = match state.jobs.record(&job, outcome).await {
        Ok(recorded) => recorded,
        // Gone since the claim; nothing is left to record against.
        Err(StoreError::NotFound) => Recorded::Stale,
        Err(err) => return Err(err.into()),
    };
    let saved = match recorded {
        Recorded::Saved(saved) => saved,
        Recorded::Stale => {
            tracing::warn!("the job was taken over or dead-lettered meanwhile; outcome dropped");
            return Ok(Ack::job(AckOutcome::Stale, job.id));
        }
    };
    match saved.status {
        JobStatus::Completed => Ok(Ack::job(AckOutcome::Completed, job.id)),
        JobStatus::Failed => Ok(Ack::job(AckOutcome::Failed, job.id)),
        // Back to pending: the nack makes Pub/Sub redeliver with backoff.
        JobStatus::Pending => Err(WorkerError::Retrying {
            job_id: job.id,
            error: error.unwrap_or_default(),
        }),
        other => Err(WorkerError::Internal(format!(
            "job {} is {other} after recording an outcome",
            job.id
        ))),
    }
}

/// How a run counts in the metrics.
fn run_outcome(outcome: &Outcome) -> RunOutcome {
    match outcome {
        Outcome::Succeeded(_) => RunOutcome::Succeeded,
        Outcome::Retryable(_) => RunOutcome::Retryable,
        Outcome::Permanent(_) => RunOutcome::Permanent,
    }
}

/// How long one run may take: the job's timeout, capped by the worker's.
pub fn run_limit(job: &Job, job_max_timeout: Duration) -> Duration {
    let own = Duration::from_secs(u64::try_from(job.timeout_seconds).unwrap_or(1).max(1));
    own.min(job_max_timeout)
}

/// Runs the job's handler for at most `limit`.
async fn run(registry: &Registry, job: &Job, limit: Duration) -> Outcome {
    let Some(handler) = registry.get(&job.job_type) else {
        return Outcome::Permanent(format!(
            "no handler is registered for job type `{}`",
            job.job_type
        ));
    };
    let owned = job.clone();
    // A task of its own, so a panicking handler fails its job instead of the request.
    let mut task = tokio::spawn(async move { handler.run(&owned).await }.in_current_span());
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(Ok(result))) => Outcome::Succeeded(result),
        Ok(Ok(Err(HandlerError::Retryable(error)))) => Outcome::Retryable(error),
        Ok(Ok(Err(HandlerError::Permanent(error)))) => Outcome::Permanent(error),
        // A panic is a bug in the handler: retrying would repeat it.
        Ok(Err(_panicked)) => {
            Outcome::Permanent("the handler crashed; see the worker's logs".to_owned())
        }
        Err(_elapsed) => {
            task.abort();
            Outcome::Retryable(format!("timed out after {} s", limit.as_secs_f64()))
        }
    }
}

//! The two deliveries the worker answers, in one place and one vocabulary
//! ([`Answer`]): a push of the `jobs` subscription (claim the job, run its
//! handler under its timeout while heartbeats keep its lease and a cancel may
//! stop it, record the outcome) and a dead-letter (Pub/Sub
//! gave up delivering a message: the job is requeued, or failed when it
//! keeps coming back without an attempt running).

use crate::answer::{AckReason, Answer, NackReason};
use crate::callback;
use crate::lease::{self, Beat};
use crate::push_envelope::PushEnvelope;
use crate::running::{Registration, Stop, Why};
use crate::state::AppState;
use jobs_domain::callback::CALLBACK_JOB_TYPE;
use jobs_domain::retry_strategy::MAX_RETRY_DELAY_SECONDS;
use jobs_domain::{
    Claim, Job, JobMessage, JobStatus, Outcome, Recorded, RetryStrategy, StoreError,
};
use jobs_job_types::{DefinedHandler, DefinedType, HandlerError, Runner, TargetAuth};
use jobs_runtime::trace_context;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::field::{Empty, display};
use tracing::{Instrument, Span};

/// How long a built-in handler told to stop may take to return before its
/// run is dropped: long enough to wind down, short enough that a cancel
/// takes effect within two seconds. A target's request is dropped at once.
const HANDLER_STOP_GRACE: Duration = Duration::from_secs(1);

/// Answers a push of the `jobs` subscription.
pub async fn push(state: &AppState, body: &[u8]) -> Answer {
    let envelope = match PushEnvelope::from_slice(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            // Redelivering the same bytes cannot help, so ack and say so.
            tracing::warn!(error = %err, "push body is not an envelope; acked");
            return Answer::Ack(AckReason::Malformed, None);
        }
    };
    let span = tracing::info_span!(
        "delivery",
        message_id = %envelope.message.message_id,
        delivery_attempt = envelope.delivery_attempt,
        subscription = %envelope.subscription,
        job_id = Empty,
        job_type = Empty,
        attempt = Empty,
        otel.kind = "consumer",
    );
    // The delivery continues the trace of the submit that published the message.
    trace_context::continue_from_message(&span, envelope.message.attributes.as_ref());
    async move {
        match envelope.job_message() {
            Ok(message) => {
                Span::current().record("job_id", display(message.job_id));
                deliver(state, message).await
            }
            Err(err) => {
                tracing::warn!(error = %err, "push names no job; acked");
                Answer::Ack(AckReason::Malformed, None)
            }
        }
    }
    .instrument(span)
    .await
}

/// Answers a delivery of the dead-letter subscription: requeues the job the
/// message names, or fails it (see `JobStore::dead_letter`). Acks everything
/// but a database failure, which may pass on redelivery.
pub async fn dead_letter(state: &AppState, body: &[u8]) -> Answer {
    let envelope = match PushEnvelope::from_slice(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(error = %err, "dead-letter body is not an envelope; acked");
            return Answer::Ack(AckReason::Malformed, None);
        }
    };
    let deliveries = envelope.dead_letter_delivery_count();
    let span = tracing::info_span!(
        "dead_letter",
        message_id = %envelope.message.message_id,
        deliveries,
        job_id = Empty,
        otel.kind = "consumer",
    );
    trace_context::continue_from_message(&span, envelope.message.attributes.as_ref());
    async move {
        let message = match envelope.job_message() {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "dead-lettered message names no job; acked");
                return Answer::Ack(AckReason::Malformed, None);
            }
        };
        let id = message.job_id;
        Span::current().record("job_id", display(id));
        let detail = match deliveries {
            Some(count) => format!("dead-lettered after {count} delivery attempts"),
            None => "dead-lettered by Pub/Sub".to_owned(),
        };
        match state
            .jobs
            .dead_letter(id, &envelope.message.message_id, &detail, state.requeue)
            .await
        {
            Ok(job) if job.status == JobStatus::Pending => {
                tracing::info!(run_at = %job.run_at, "dead-lettered job requeued");
                Answer::Ack(AckReason::Requeued, Some(id))
            }
            Ok(job) => {
                tracing::info!(status = %job.status, "dead-letter recorded");
                Answer::Ack(AckReason::DeadLettered, Some(id))
            }
            Err(StoreError::NotFound) => {
                tracing::warn!("dead-lettered message names no job; acked");
                Answer::Ack(AckReason::NotFound, Some(id))
            }
            Err(StoreError::Transition(refused)) => {
                // The state machine refused; redelivery would be refused the same way.
                tracing::error!(error = %refused, "dead-letter refused; acked");
                Answer::Ack(AckReason::DeadLettered, Some(id))
            }
            Err(err) => nack(err),
        }
    }
    .instrument(span)
    .await
}

/// Claims the job `message` names and, when the claim is ours, runs it:
/// what a delivery of the `jobs` subscription does, pushed or pulled
/// (`crate::pull`). Records `job_type` and `attempt` in the current span.
pub async fn deliver(state: &AppState, message: JobMessage) -> Answer {
    let id = message.job_id;
    // Registered before the claim, so a cancel requested the moment the
    // claim commits is heard; dropped at once unless the claim is ours.
    let registration = state.running.register(id);
    let claim = match state
        .jobs
        .claim_deferring(id, state.lease.lease(), state.deferral)
        .await
    {
        Ok(claim) => claim,
        Err(err) => return nack(err),
    };
    if let Claim::Claimed(job)
    | Claim::Busy(job)
    | Claim::Finished(job)
    | Claim::Exhausted(job)
    | Claim::NotDue(job)
    | Claim::Deferred(job)
    | Claim::Cancelled(job) = &claim
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
            tokio::spawn(process(state.clone(), job, registration).in_current_span())
                .await
                .unwrap_or_else(|err| {
                    Answer::Nack(NackReason::Internal(format!(
                        "the delivery task failed: {err}"
                    )))
                })
        }
        Claim::Busy(_) => {
            tracing::info!("another delivery holds the job's lease; nacking");
            Answer::Nack(NackReason::Busy(id))
        }
        Claim::Finished(job) => {
            tracing::info!(status = %job.status, "the job is already finished; duplicate acked");
            Answer::Ack(AckReason::Duplicate, Some(id))
        }
        Claim::Exhausted(job) => {
            tracing::warn!(
                attempts = job.attempts,
                "the lease expired on the last attempt; job failed"
            );
            Answer::Ack(AckReason::Exhausted, Some(id))
        }
        Claim::NotDue(job) => {
            tracing::info!(run_at = %job.run_at, "the job is not due; acked, it is published again when due");
            Answer::Ack(AckReason::NotDue, Some(id))
        }
        Claim::Deferred(job) => {
            // Acked: a nack would spend one of Pub/Sub's deliveries, and after
            // five dead-letter a job that never failed.
            tracing::info!(run_at = %job.run_at, "the job's concurrency limit is reached; deferred and acked, it is published again when due");
            Answer::Ack(AckReason::Deferred, Some(id))
        }
        Claim::Cancelled(_) => {
            tracing::info!(
                "a cancel was requested while the job ran and nothing runs it now; cancelled instead of running again"
            );
            Answer::Ack(AckReason::Cancelled, Some(id))
        }
        Claim::NotFound => {
            tracing::warn!("no such job; acked");
            Answer::Ack(AckReason::NotFound, Some(id))
        }
    }
}

/// Runs a claimed job and records its outcome, with heartbeats extending
/// its lease until the outcome is written (or the lease is found lost).
async fn process(state: AppState, job: Job, registration: Registration) -> Answer {
    let stop = registration.stop().clone();
    let done = CancellationToken::new();
    // Ends the heartbeats however this returns; a beat in flight finishes
    // and, once the outcome is written, changes nothing.
    let _heartbeats = done.clone().drop_guard();
    let beating = (state.jobs.clone(), job.clone(), state.lease.lease());
    tokio::spawn(
        lease::keep(
            state.lease.every,
            move || {
                let (jobs, job, lease) = beating.clone();
                async move { jobs.extend_lease(&job, lease).await.map(Beat::of) }
            },
            stop.clone(),
            done,
        )
        .in_current_span(),
    );
    let limit = run_limit(&job, state.job_max_timeout);
    let started = Instant::now();
    let outcome = run(&state, &job, limit, &stop).await;
    let took = started.elapsed();
    if outcome == Outcome::Cancelled && stop.why() == Some(Why::LeaseLost) {
        // The job is another attempt's now (or dead-lettered, or cancelled):
        // nothing is left to record against.
        tracing::warn!(
            "the lease was lost while the handler ran; handler stopped, nothing recorded"
        );
        return Answer::Ack(AckReason::Stale, Some(job.id));
    }
    state
        .metrics
        .handler_ran(&job.job_type, outcome.label(), took);
    let elapsed_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    let scheduled = matches!(
        outcome,
        Outcome::RetryScheduled { .. }
            | Outcome::TimedOut {
                retry_in: Some(_),
                ..
            }
    );
    match &outcome {
        Outcome::Succeeded(_) => tracing::info!(elapsed_ms, "handler succeeded"),
        Outcome::Retryable(error) | Outcome::TimedOut { error, .. } => {
            tracing::warn!(elapsed_ms, %error, "handler failed (retryable)");
        }
        Outcome::RetryScheduled { error, delay } => {
            tracing::warn!(elapsed_ms, %error, retry_in_s = delay.as_secs_f64(), "handler failed (retry scheduled)");
        }
        Outcome::Permanent(error) | Outcome::NoHandler(error) => {
            tracing::warn!(elapsed_ms, %error, "handler failed (permanent)");
        }
        Outcome::Cancelled => tracing::info!(elapsed_ms, "handler stopped: the job was cancelled"),
    }
    match state.jobs.record(&job, outcome).await {
        Ok(Recorded::Completed(_)) => Answer::Ack(AckReason::Completed, Some(job.id)),
        Ok(Recorded::Failed(_)) => Answer::Ack(AckReason::Failed, Some(job.id)),
        Ok(Recorded::Cancelled(_)) => Answer::Ack(AckReason::Cancelled, Some(job.id)),
        // Back to pending on the type's own schedule: the reconciler publishes it when due.
        Ok(Recorded::Retrying(_)) if scheduled => {
            Answer::Ack(AckReason::RetryScheduled, Some(job.id))
        }
        // Back to pending: the nack makes Pub/Sub redeliver with backoff.
        Ok(Recorded::Retrying(saved)) => Answer::Nack(NackReason::Retrying {
            job_id: job.id,
            error: saved.error.unwrap_or_default(),
        }),
        // Gone since the claim, or taken over: nothing is left to record against.
        Ok(Recorded::Stale) | Err(StoreError::NotFound) => {
            tracing::warn!("the job was taken over or dead-lettered meanwhile; outcome dropped");
            Answer::Ack(AckReason::Stale, Some(job.id))
        }
        Err(err) => nack(err),
    }
}

/// The nack for a store failure: redelivery may pass once the database answers.
fn nack(err: StoreError) -> Answer {
    match err {
        StoreError::Unavailable(_) | StoreError::Contended => Answer::Nack(NackReason::Unavailable),
        other => Answer::Nack(NackReason::Internal(other.to_string())),
    }
}

/// How long one run may take: the job's timeout, capped by the worker's.
pub fn run_limit(job: &Job, job_max_timeout: Duration) -> Duration {
    let own = Duration::from_secs(u64::try_from(job.timeout_seconds).unwrap_or(1).max(1));
    own.min(job_max_timeout)
}

/// What runs a job: a built-in handler (for a tenant's type, with the
/// payload as that handler reads it) or a tenant's HTTP target.
enum Handler {
    Runner(Arc<dyn Runner>, Job),
    Target(Arc<DefinedType>, Job),
    Callback(Job),
}

/// Finds what runs `job`, and how its retryable failures are retried.
async fn find(state: &AppState, job: &Job) -> Result<Option<(Handler, RetryStrategy)>, StoreError> {
    if job.job_type == CALLBACK_JOB_TYPE {
        return Ok(Some((
            Handler::Callback(job.clone()),
            RetryStrategy::Pubsub,
        )));
    }
    if let Some(runner) = state.registry.get(&job.job_type) {
        return Ok(Some((
            Handler::Runner(runner, job.clone()),
            RetryStrategy::Pubsub,
        )));
    }
    let Some(defined) = state.job_types.get(job.tenant, &job.job_type).await? else {
        return Ok(None);
    };
    let retry = defined.definition.retry;
    let handler = match defined.handler() {
        DefinedHandler::Builtin(builtin) => {
            let Some(runner) = state.registry.get(builtin.name()) else {
                return Ok(None);
            };
            let mut job = job.clone();
            job.payload = DefinedType::handler_payload(builtin, &job.payload);
            Handler::Runner(runner, job)
        }
        DefinedHandler::Target(_) => Handler::Target(defined.clone(), job.clone()),
    };
    Ok(Some((handler, retry)))
}

/// Runs one attempt of a tenant's target.
async fn call_target(
    state: &AppState,
    defined: &DefinedType,
    job: &Job,
    limit: Duration,
) -> Result<Value, HandlerError> {
    let DefinedHandler::Target(spec) = defined.handler() else {
        return Err(HandlerError::Permanent("not a target".to_owned()));
    };
    let secret = match (&spec.auth, &defined.sealed_secret, &state.secret_box) {
        (TargetAuth::Hmac, Some(sealed), Some(secret_box)) => {
            Some(secret_box.open(sealed).map_err(|err| {
                HandlerError::Permanent(format!("the type's secret cannot be opened: {err}"))
            })?)
        }
        (TargetAuth::Hmac, _, None) => {
            return Err(HandlerError::Permanent(
                "the worker has no JOB_TYPE_SECRETS_KEY to sign the request with".to_owned(),
            ));
        }
        _ => None,
    };
    state
        .targets
        .call(spec, secret.as_deref(), job, limit)
        .await
}

/// Runs the job's handler for at most `limit`, or until `stop` fires: then
/// a built-in handler gets its token fired and [`HANDLER_STOP_GRACE`] to
/// return, a target's request is dropped at once, and the outcome is
/// [`Outcome::Cancelled`], unless the handler finished first (or returns a
/// success all the same): that outcome stands.
async fn run(state: &AppState, job: &Job, limit: Duration, stop: &Stop) -> Outcome {
    if stop.is_stopped() {
        return Outcome::Cancelled;
    }
    let (handler, retry) = match find(state, job).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Outcome::NoHandler(format!(
                "no handler is registered for job type `{}`",
                job.job_type
            ));
        }
        Err(err) => return Outcome::Retryable(format!("the job's type cannot be read: {err}")),
    };
    let owned = state.clone();
    let cancel = stop.handler_token();
    let grace = match handler {
        Handler::Runner(..) => HANDLER_STOP_GRACE,
        _ => Duration::ZERO,
    };
    // A task of its own, so a panicking handler fails its job instead of the request.
    let mut task = tokio::spawn(
        async move {
            match handler {
                Handler::Runner(runner, job) => runner.run(&job, &cancel).await,
                Handler::Target(defined, job) => call_target(&owned, &defined, &job, limit).await,
                Handler::Callback(job) => callback::send(&owned, &job, limit).await,
            }
        }
        .in_current_span(),
    );
    let ran = tokio::select! {
        // A handler that finished first keeps its outcome.
        biased;
        ran = tokio::time::timeout(limit, &mut task) => ran,
        () = stop.stopped() => {
            return match tokio::time::timeout(grace, &mut task).await {
                // It finished all the same: its work is done.
                Ok(Ok(Ok(result))) => Outcome::Succeeded(result),
                Ok(_) => Outcome::Cancelled,
                Err(_still_running) => {
                    // Dropping the run drops a target's request: its connection closes.
                    task.abort();
                    Outcome::Cancelled
                }
            };
        }
    };
    let outcome = match ran {
        Ok(Ok(Ok(result))) => return Outcome::Succeeded(result),
        // Told to stop as it ended: only a success stands.
        _ if stop.is_stopped() => return Outcome::Cancelled,
        Ok(Ok(Err(error))) => error,
        // A panic is a bug in the handler: retrying would repeat it.
        Ok(Err(_panicked)) => {
            return Outcome::Permanent("the handler crashed; see the worker's logs".to_owned());
        }
        Err(_elapsed) => {
            task.abort();
            let error = format!("timed out after {} s", limit.as_secs_f64());
            return Outcome::TimedOut {
                retry_in: retry.delay(job.attempts),
                error,
            };
        }
    };
    schedule(outcome, retry, job.attempts)
}

/// A handler's error as an outcome: on the type's own retry schedule when it
/// has one (a target's `Retry-After` raising the delay), else for Pub/Sub.
fn schedule(error: HandlerError, retry: RetryStrategy, attempt: i32) -> Outcome {
    let (message, after) = match error {
        HandlerError::RetryableAfter { error, after } => (error, Some(after)),
        HandlerError::Retryable(error) => (error, None),
        other => return other.into(),
    };
    match retry.delay(attempt) {
        Some(delay) => {
            let most = Duration::from_secs(u64::from(MAX_RETRY_DELAY_SECONDS));
            let delay = after.map_or(delay, |after| delay.max(after.min(most)));
            Outcome::RetryScheduled {
                error: message,
                delay,
            }
        }
        None => Outcome::Retryable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: RetryStrategy = RetryStrategy::Exponential {
        initial_delay_seconds: 2,
        max_delay_seconds: 16,
        multiplier: 2.0,
        jitter: false,
    };

    #[test]
    fn a_retryable_error_follows_the_types_schedule_and_retry_after_raises_it() {
        let scheduled = schedule(HandlerError::Retryable("503".into()), SEED, 2);
        assert_eq!(
            scheduled,
            Outcome::RetryScheduled {
                error: "503".into(),
                delay: Duration::from_secs(4)
            }
        );
        let raised = HandlerError::RetryableAfter {
            error: "429".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            schedule(raised, SEED, 1),
            Outcome::RetryScheduled {
                error: "429".into(),
                delay: Duration::from_secs(30)
            }
        );
        let absurd = HandlerError::RetryableAfter {
            error: "429".into(),
            after: Duration::from_secs(u64::MAX),
        };
        let Outcome::RetryScheduled { delay, .. } = schedule(absurd, SEED, 1) else {
            panic!("scheduled");
        };
        assert_eq!(
            delay,
            Duration::from_secs(u64::from(MAX_RETRY_DELAY_SECONDS))
        );
    }

    #[test]
    fn with_pubsub_retries_and_permanent_errors_nothing_is_scheduled() {
        let after = HandlerError::RetryableAfter {
            error: "429".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            schedule(after, RetryStrategy::Pubsub, 1),
            Outcome::Retryable("429".into())
        );
        assert_eq!(
            schedule(HandlerError::Permanent("404".into()), SEED, 1),
            Outcome::Permanent("404".into())
        );
    }
}

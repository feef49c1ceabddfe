//! The job state machine as pure code. [`JobState::apply`] says which
//! transitions are legal; [`Transition::decide`] turns one into the whole
//! change to write, which the store applies with one statement guarded by
//! the state the decision was made on.

use crate::failure_reason::FailureReason;
use crate::job::Job;
use crate::job_status::JobStatus;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;
use thiserror::Error;

/// Something that happens to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEvent {
    /// The job was stored by the API.
    Submitted,
    /// A delivery claimed a pending job.
    Claimed,
    /// A delivery claimed a processing job whose lease had expired.
    LeaseExpired,
    /// The handler succeeded.
    Succeeded,
    /// The handler failed in a way that may pass on another attempt.
    FailedRetryable,
    /// The handler failed in a way no retry can fix.
    FailedPermanent,
    /// The last attempt failed (a retryable error, a timeout, an expired lease): the job fails.
    AttemptsExhausted,
    /// Pub/Sub gave up delivering the message, and the job with attempts left
    /// went back to pending, to be published afresh after a delay.
    Requeued,
    /// Pub/Sub gave up delivering the message, and the job, dead-lettered too
    /// often without an attempt running or with its attempts spent, fails.
    DeadLettered,
    /// A client cancelled the job through the API: a pending job at once; a
    /// running one when its worker stopped the handler, or when a delivery
    /// found it with a cancel requested and no live lease.
    Cancelled,
    /// A client asked through the API to cancel a running job: it stays
    /// `processing` until its worker stops the handler (or the handler ends first).
    CancelRequested,
    /// A client asked through the API for a failed or cancelled job to run again.
    Retried,
    /// A delivery found the job's concurrency key at its limit: the job did
    /// not run, stays pending and is published again after a short delay,
    /// with no attempt spent.
    Deferred,
}

impl JobEvent {
    /// Every event.
    pub const ALL: [JobEvent; 13] = [
        JobEvent::Submitted,
        JobEvent::Claimed,
        JobEvent::LeaseExpired,
        JobEvent::Succeeded,
        JobEvent::FailedRetryable,
        JobEvent::FailedPermanent,
        JobEvent::AttemptsExhausted,
        JobEvent::Requeued,
        JobEvent::DeadLettered,
        JobEvent::Cancelled,
        JobEvent::CancelRequested,
        JobEvent::Retried,
        JobEvent::Deferred,
    ];

    /// The name stored in the `job_events` history.
    pub fn as_str(self) -> &'static str {
        match self {
            JobEvent::Submitted => "submitted",
            JobEvent::Claimed => "claimed",
            JobEvent::LeaseExpired => "lease_expired",
            JobEvent::Succeeded => "succeeded",
            JobEvent::FailedRetryable => "failed_retryable",
            JobEvent::FailedPermanent => "failed_permanent",
            JobEvent::AttemptsExhausted => "attempts_exhausted",
            JobEvent::Requeued => "requeued",
            JobEvent::DeadLettered => "dead_lettered",
            JobEvent::Cancelled => "cancelled",
            JobEvent::CancelRequested => "cancel_requested",
            JobEvent::Retried => "retried",
            JobEvent::Deferred => "deferred",
        }
    }
}

impl fmt::Display for JobEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of a job the state machine decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    /// Current status.
    pub status: JobStatus,
    /// Deliveries that claimed the job so far; never decreases.
    pub attempts: i32,
    /// Claims allowed before a retryable error becomes final.
    pub max_attempts: i32,
}

/// A transition the state machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a {from} job cannot be {event}")]
pub struct TransitionError {
    /// The status the job was in.
    pub from: JobStatus,
    /// The event that was refused.
    pub event: JobEvent,
}

impl JobState {
    /// The most attempts a job may have (the schema's bound on `max_attempts`).
    pub const MAX_ATTEMPTS: i32 = 1000;

    /// The state of a job the API has just stored.
    pub fn submitted(max_attempts: i32) -> Self {
        JobState {
            status: JobStatus::Pending,
            attempts: 0,
            max_attempts,
        }
    }

    /// True when a claim may still run the handler.
    pub fn has_attempts_left(&self) -> bool {
        self.attempts < self.max_attempts
    }

    /// Applies `event`, or says why it is not allowed from this state.
    pub fn apply(self, event: JobEvent) -> Result<JobState, TransitionError> {
        use JobEvent as E;
        use JobStatus as S;
        let refused = TransitionError {
            from: self.status,
            event,
        };
        let next = match (self.status, event) {
            (S::Pending, E::Claimed) if self.has_attempts_left() => JobState {
                status: S::Processing,
                attempts: self.attempts + 1,
                ..self
            },
            (S::Processing, E::LeaseExpired) if self.has_attempts_left() => JobState {
                status: S::Processing,
                attempts: self.attempts + 1,
                ..self
            },
            // A lease that expired on the last attempt leaves nothing to retry.
            (S::Processing, E::LeaseExpired) => JobState {
                status: S::Failed,
                ..self
            },
            (S::Processing, E::Succeeded) => JobState {
                status: S::Completed,
                ..self
            },
            (S::Processing, E::FailedRetryable) if self.has_attempts_left() => JobState {
                status: S::Pending,
                ..self
            },
            (S::Processing, E::FailedRetryable | E::FailedPermanent) => JobState {
                status: S::Failed,
                ..self
            },
            (S::Processing, E::AttemptsExhausted) if !self.has_attempts_left() => JobState {
                status: S::Failed,
                ..self
            },
            (S::Pending | S::Processing, E::Requeued) if self.has_attempts_left() => JobState {
                status: S::Pending,
                ..self
            },
            // A job whose key is at its concurrency limit waits, its attempts
            // untouched (from processing: a lease that expired, whose attempt
            // stays spent).
            (S::Pending | S::Processing, E::Deferred) if self.has_attempts_left() => JobState {
                status: S::Pending,
                ..self
            },
            (S::Pending | S::Processing, E::DeadLettered) => JobState {
                status: S::Failed,
                ..self
            },
            (S::Pending | S::Processing, E::Cancelled) => JobState {
                status: S::Cancelled,
                ..self
            },
            // The job runs on until its worker hears of the request.
            (S::Processing, E::CancelRequested) => self,
            // A retried job gets at least one more attempt, and keeps any it
            // had left, up to the most any job may have.
            (S::Failed | S::Cancelled, E::Retried) if self.attempts < Self::MAX_ATTEMPTS => {
                JobState {
                    status: S::Pending,
                    max_attempts: self.max_attempts.max(self.attempts + 1),
                    ..self
                }
            }
            _ => return Err(refused),
        };
        Ok(next)
    }
}

/// What happened to a job, with what the change needs to know.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A delivery's handler run ended with this outcome.
    Outcome(Outcome),
    /// A delivery found the lease expired on the last attempt.
    LeaseExpired,
    /// Pub/Sub dead-lettered the job's message.
    DeadLettered(DeadLetter),
    /// A client cancelled the job: a pending one, or a processing one whose
    /// cancel was requested and that no live delivery runs any more.
    Cancelled,
    /// A client asked to cancel a processing job: its worker is told to stop it.
    CancelRequested,
    /// A client asked for the job to run again.
    Retried,
    /// A delivery found the job's concurrency key at its limit.
    Deferred(Deferral),
}

/// A delivery that found the job's key at its concurrency limit, with what
/// decides the delay and whether the history gets an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferral {
    /// The type's limit that was reached.
    pub limit: i32,
    /// Deferrals of this job since it last ran, before this one.
    pub deferrals: i32,
    /// Time since the job's last recorded `deferred` event; `None`: there is none.
    pub since_event: Option<Duration>,
    /// The delays and how often an event is recorded.
    pub policy: DeferralPolicy,
}

/// How jobs whose key is at its concurrency limit wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferralPolicy {
    /// The delay after the first deferral; it doubles with each one until the job runs.
    pub delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// At most one `deferred` event per job in this long; the deferrals in
    /// between change the job without an entry in its history.
    pub event_every: Duration,
}

impl DeferralPolicy {
    /// 1 s, doubling, at most 10 s; an event at most every 5 s.
    pub const DEFAULT: DeferralPolicy = DeferralPolicy {
        delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(10),
        event_every: Duration::from_secs(5),
    };

    /// The delay after deferral number `n` (1-based) in a row.
    pub fn delay_of(&self, n: i32) -> Duration {
        doubled(self.delay, n, self.max_delay)
    }
}

impl Default for DeferralPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `first` doubled `n - 1` times (`n` is 1-based), at most `most`.
fn doubled(first: Duration, n: i32, most: Duration) -> Duration {
    let doublings = u32::try_from(n.saturating_sub(1)).unwrap_or(0).min(30);
    first.saturating_mul(1u32 << doublings).min(most)
}

/// A dead-letter, with what decides between requeueing and failing the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// What Pub/Sub said, e.g. "dead-lettered after 5 delivery attempts".
    pub detail: String,
    /// Dead-letters of this job since an attempt last ran, before this one.
    pub without_progress: i32,
    /// The policy: how often, and after what delay, a job is requeued.
    pub policy: RequeuePolicy,
}

/// How dead-lettered jobs with attempts left are requeued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequeuePolicy {
    /// Dead-letters without an attempt running that requeue the job; the next one fails it.
    pub limit: i32,
    /// The delay before the first requeue is published; it doubles with each one.
    pub delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl RequeuePolicy {
    /// The delay before requeue number `n` (1-based) is published.
    pub fn delay_of(&self, n: i32) -> Duration {
        doubled(self.delay, n, self.max_delay)
    }
}

/// What a handler run ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Success, with the handler's result.
    Succeeded(Value),
    /// A failure that may pass on another attempt, retried by Pub/Sub's redelivery.
    Retryable(String),
    /// A failure that may pass on another attempt, retried on the job type's
    /// own schedule: the job is published again after `delay`.
    RetryScheduled {
        /// The handler's error.
        error: String,
        /// How long until the next attempt.
        delay: Duration,
    },
    /// A failure no retry can fix.
    Permanent(String),
    /// The attempt ran out of time: retried like [`Outcome::Retryable`]
    /// (after `retry_in` on the type's own schedule, when it has one), and
    /// recorded as `timed_out` when it was the last attempt.
    TimedOut {
        /// What ran out of time.
        error: String,
        /// The type's own retry delay; `None` retries by Pub/Sub's redelivery.
        retry_in: Option<Duration>,
    },
    /// Nothing can run the job: its type was deleted, or has no handler.
    NoHandler(String),
    /// A client cancelled the job while it ran, and the worker stopped the
    /// handler before it succeeded.
    Cancelled,
}

impl Outcome {
    /// The name of the outcome in metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "succeeded",
            Outcome::Retryable(_) | Outcome::RetryScheduled { .. } => "retryable_error",
            Outcome::TimedOut { .. } => "timed_out",
            Outcome::Permanent(_) | Outcome::NoHandler(_) => "permanent_error",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl Cause {
    /// The history event this cause records.
    pub fn event(&self) -> JobEvent {
        match self {
            Cause::Outcome(Outcome::Succeeded(_)) => JobEvent::Succeeded,
            Cause::Outcome(
                Outcome::Retryable(_) | Outcome::RetryScheduled { .. } | Outcome::TimedOut { .. },
            ) => JobEvent::FailedRetryable,
            Cause::Outcome(Outcome::Permanent(_) | Outcome::NoHandler(_)) => {
                JobEvent::FailedPermanent
            }
            Cause::Outcome(Outcome::Cancelled) | Cause::Cancelled => JobEvent::Cancelled,
            Cause::CancelRequested => JobEvent::CancelRequested,
            Cause::LeaseExpired => JobEvent::LeaseExpired,
            Cause::DeadLettered(_) => JobEvent::DeadLettered,
            Cause::Retried => JobEvent::Retried,
            Cause::Deferred(_) => JobEvent::Deferred,
        }
    }
}

/// What a change does to the job's `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorUpdate {
    /// Leaves it as it is.
    Keep,
    /// Replaces it.
    Set(String),
    /// Removes it (a job a client retries starts clean).
    Clear,
}

/// A decided change: everything one conditional write needs. The store
/// applies it only while the job is still in `from`; otherwise the decision
/// is stale and nothing is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The event recorded in the history.
    pub event: JobEvent,
    /// The state the decision was made on, which guards the write.
    pub from: JobState,
    /// The state after the change.
    pub to: JobState,
    /// What happens to the job's `error`.
    pub error: ErrorUpdate,
    /// The handler's result to store; `None` keeps the current one.
    pub result: Option<Value>,
    /// The reason recorded with the event.
    pub detail: Option<String>,
    /// Why the job failed, when `to` is failed.
    pub failure_reason: Option<FailureReason>,
    /// When set, the job runs this long from now (`run_at`).
    pub run_in: Option<Duration>,
    /// Clears `published_at`, so the reconciler publishes the job afresh.
    pub republish: bool,
    /// Dead-letters without progress after the change.
    pub dead_letters: i32,
    /// Deferrals in a row after the change; `None` leaves the count as it is.
    pub deferrals: Option<i32>,
    /// Whether the change gets its entry in the history: always, but for a
    /// deferral within [`DeferralPolicy::event_every`] of the last one recorded.
    pub recorded: bool,
}

impl Transition {
    /// Decides what `cause` does to `job`, or refuses it as the state machine
    /// does. `dead_letters` is the job's count of dead-letters without progress.
    pub fn decide(
        job: &Job,
        dead_letters: i32,
        cause: Cause,
    ) -> Result<Transition, TransitionError> {
        let from = job.state();
        let mut event = cause.event();
        let mut error = ErrorUpdate::Keep;
        let mut result = None;
        let mut detail = None;
        let mut run_in = None;
        let mut dead_letters_after = dead_letters;
        let mut deferrals = None;
        let mut recorded = true;
        let timed_out = matches!(
            cause,
            Cause::LeaseExpired | Cause::Outcome(Outcome::TimedOut { .. })
        );
        let no_handler = matches!(cause, Cause::Outcome(Outcome::NoHandler(_)));
        match cause {
            Cause::Outcome(Outcome::Succeeded(value)) => result = Some(storable(value)),
            Cause::Outcome(
                Outcome::Retryable(message)
                | Outcome::Permanent(message)
                | Outcome::NoHandler(message)
                | Outcome::TimedOut {
                    error: message,
                    retry_in: None,
                },
            ) => {
                error = ErrorUpdate::Set(message.clone());
                detail = Some(message);
            }
            Cause::Outcome(
                Outcome::RetryScheduled {
                    error: message,
                    delay,
                }
                | Outcome::TimedOut {
                    error: message,
                    retry_in: Some(delay),
                },
            ) => {
                error = ErrorUpdate::Set(message.clone());
                if from.attempts < from.max_attempts {
                    run_in = Some(delay);
                    detail = Some(format!(
                        "{message}; next attempt in {} s",
                        delay.as_secs_f64()
                    ));
                } else {
                    detail = Some(message);
                }
            }
            Cause::LeaseExpired => {
                let message = "lease expired without an outcome".to_owned();
                error = ErrorUpdate::Set(message.clone());
                detail = Some(message);
            }
            Cause::DeadLettered(dead) => {
                let requeue = from.has_attempts_left() && dead_letters < dead.policy.limit;
                dead_letters_after = dead_letters + 1;
                if requeue {
                    let delay = dead.policy.delay_of(dead_letters_after);
                    event = JobEvent::Requeued;
                    run_in = Some(delay);
                    detail = Some(format!(
                        "{}; requeued ({dead_letters_after} of {}), published again in {} s",
                        dead.detail,
                        dead.policy.limit,
                        delay.as_secs()
                    ));
                } else {
                    // Keep the handler's last error: it says why the deliveries failed.
                    error = ErrorUpdate::Set(match &job.error {
                        Some(last) => format!("{}; last error: {last}", dead.detail),
                        None => dead.detail.clone(),
                    });
                    detail = Some(dead.detail);
                }
            }
            Cause::Deferred(deferral) => {
                let n = deferral.deferrals.saturating_add(1);
                let delay = deferral.policy.delay_of(n);
                run_in = Some(delay);
                deferrals = Some(n);
                recorded = deferral
                    .since_event
                    .is_none_or(|since| since >= deferral.policy.event_every);
                let mut reason = format!(
                    "concurrency limit of {} reached for the job's key; deferred {n} time{} in a row, published again in {} s",
                    deferral.limit,
                    if n == 1 { "" } else { "s" },
                    delay.as_secs_f64()
                );
                if from.status == JobStatus::Processing {
                    let expired = "lease expired without an outcome".to_owned();
                    reason = format!("{expired}; {reason}");
                    error = ErrorUpdate::Set(expired);
                }
                detail = Some(reason);
            }
            Cause::Outcome(Outcome::Cancelled) => {
                detail = Some(format!(
                    "cancelled while running: the worker stopped attempt {}",
                    from.attempts
                ));
            }
            // A job whose cancel was requested while it ran, found with no
            // live delivery running it (its worker died, or its attempt
            // failed and it went back to pending): it does not run again.
            Cause::Cancelled if job.cancel_requested_at.is_some() => {
                detail = Some(
                    "cancel requested while running; cancelled instead of running again".to_owned(),
                );
            }
            Cause::Cancelled | Cause::CancelRequested => {}
            Cause::Retried => {
                error = ErrorUpdate::Clear;
                run_in = Some(Duration::ZERO);
                deferrals = Some(0);
            }
        }
        let to = from.apply(event)?;
        // A failure that leaves no attempt is recorded as what it is.
        if to.status == JobStatus::Failed
            && matches!(event, JobEvent::FailedRetryable | JobEvent::LeaseExpired)
        {
            event = JobEvent::AttemptsExhausted;
        }
        let failure_reason = (to.status == JobStatus::Failed).then_some(match event {
            JobEvent::FailedPermanent if no_handler => FailureReason::TypeDeleted,
            JobEvent::FailedPermanent => FailureReason::PermanentError,
            JobEvent::DeadLettered => FailureReason::DeadLettered,
            _ if timed_out => FailureReason::TimedOut,
            _ => FailureReason::AttemptsExhausted,
        });
        Ok(Transition {
            event,
            from,
            to,
            error,
            result,
            detail,
            failure_reason,
            run_in,
            // A job back to pending with a run_at is published when due.
            republish: matches!(event, JobEvent::Retried | JobEvent::Requeued) || run_in.is_some(),
            dead_letters: dead_letters_after,
            deferrals,
            recorded,
        })
    }

    /// True when the change ends the job: `finished_at` is set.
    pub fn finishes(&self) -> bool {
        self.to.status.is_terminal()
    }
}

/// `value` in a form PostgreSQL's jsonb can store: NUL, which it refuses in
/// text, is written as the six characters `\u0000`, so a result that cannot
/// be stored as given never turns a success into a rerun.
fn storable(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains('\0') => Value::String(text.replace('\0', "\\u0000")),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key.replace('\0', "\\u0000"), storable(value)))
                .collect(),
        ),
        other => other,
    }
}

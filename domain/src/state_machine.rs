//! The job state machine as pure code. [`JobState::apply`] says which
//! transitions are legal; [`Transition::decide`] turns one into the whole
//! change to write, which the store applies with one statement guarded by
//! the state the decision was made on.

use crate::job::Job;
use crate::job_status::JobStatus;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
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
    /// Pub/Sub gave up delivering and forwarded the message to the dead-letter topic.
    DeadLettered,
    /// A client cancelled the job through the API.
    Cancelled,
    /// A client asked through the API for a failed or cancelled job to run again.
    Retried,
}

impl JobEvent {
    /// Every event.
    pub const ALL: [JobEvent; 9] = [
        JobEvent::Submitted,
        JobEvent::Claimed,
        JobEvent::LeaseExpired,
        JobEvent::Succeeded,
        JobEvent::FailedRetryable,
        JobEvent::FailedPermanent,
        JobEvent::DeadLettered,
        JobEvent::Cancelled,
        JobEvent::Retried,
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
            JobEvent::DeadLettered => "dead_lettered",
            JobEvent::Cancelled => "cancelled",
            JobEvent::Retried => "retried",
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
            (S::Pending | S::Processing, E::DeadLettered) => JobState {
                status: S::Failed,
                ..self
            },
            (S::Pending, E::Cancelled) => JobState {
                status: S::Cancelled,
                ..self
            },
            // A retried job gets at least one more attempt, and keeps any it had left.
            (S::Failed | S::Cancelled, E::Retried) => JobState {
                status: S::Pending,
                max_attempts: self.max_attempts.max(self.attempts + 1),
                ..self
            },
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
    /// Pub/Sub dead-lettered the job's message; the text says after how many deliveries.
    DeadLettered(String),
    /// A client cancelled the job.
    Cancelled,
    /// A client asked for the job to run again.
    Retried,
}

/// What a handler run ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Success, with the handler's result.
    Succeeded(Value),
    /// A failure that may pass on another attempt.
    Retryable(String),
    /// A failure no retry can fix.
    Permanent(String),
}

impl Outcome {
    /// The name of the outcome in metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded(_) => "succeeded",
            Outcome::Retryable(_) => "retryable_error",
            Outcome::Permanent(_) => "permanent_error",
        }
    }
}

impl Cause {
    /// The history event this cause records.
    pub fn event(&self) -> JobEvent {
        match self {
            Cause::Outcome(Outcome::Succeeded(_)) => JobEvent::Succeeded,
            Cause::Outcome(Outcome::Retryable(_)) => JobEvent::FailedRetryable,
            Cause::Outcome(Outcome::Permanent(_)) => JobEvent::FailedPermanent,
            Cause::LeaseExpired => JobEvent::LeaseExpired,
            Cause::DeadLettered(_) => JobEvent::DeadLettered,
            Cause::Cancelled => JobEvent::Cancelled,
            Cause::Retried => JobEvent::Retried,
        }
    }
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
    /// The job's new `error`; `None` keeps the current one.
    pub error: Option<String>,
    /// The handler's result to store; `None` keeps the current one.
    pub result: Option<Value>,
    /// The reason recorded with the event.
    pub detail: Option<String>,
    /// Clears `published_at`, so the reconciler publishes the job afresh.
    pub republish: bool,
}

impl Transition {
    /// Decides what `cause` does to `job`, or refuses it as the state machine does.
    pub fn decide(job: &Job, cause: Cause) -> Result<Transition, TransitionError> {
        let event = cause.event();
        let from = job.state();
        let to = from.apply(event)?;
        let (error, result, detail) = match cause {
            Cause::Outcome(Outcome::Succeeded(result)) => (None, Some(result), None),
            Cause::Outcome(Outcome::Retryable(error) | Outcome::Permanent(error)) => {
                (Some(error.clone()), None, Some(error))
            }
            Cause::LeaseExpired => {
                let detail = "lease expired without an outcome".to_owned();
                (Some(detail.clone()), None, Some(detail))
            }
            // Keep the handler's last error: it says why the deliveries failed.
            Cause::DeadLettered(detail) => {
                let error = match &job.error {
                    Some(last) => format!("{detail}; last error: {last}"),
                    None => detail.clone(),
                };
                (Some(error), None, Some(detail))
            }
            Cause::Cancelled | Cause::Retried => (None, None, None),
        };
        Ok(Transition {
            event,
            from,
            to,
            error,
            result,
            detail,
            republish: event == JobEvent::Retried,
        })
    }

    /// True when the change ends the job: `finished_at` is set.
    pub fn finishes(&self) -> bool {
        self.to.status.is_terminal()
    }
}

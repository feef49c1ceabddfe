//! The job state machine as pure code: the store asks it which transitions
//! are legal and the database only ever applies what it allows.

use crate::job_status::JobStatus;
use serde::Serialize;
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

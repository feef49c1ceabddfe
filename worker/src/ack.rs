//! The 2xx answer to a delivery: Pub/Sub acks it and never sends it again.

use axum::Json;
use axum::response::{IntoResponse, Response};
use jobs_domain::JobId;
use serde::Serialize;

/// Why a delivery was acked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AckOutcome {
    /// The handler succeeded and the job is completed.
    Completed,
    /// The job failed for good: a permanent error, or its attempts ran out.
    Failed,
    /// The job was already finished: a duplicate delivery, nothing done.
    Duplicate,
    /// The job's lease expired on its last attempt, so the claim failed it.
    Exhausted,
    /// The job's `run_at` has not come; it is published again when due.
    NotDue,
    /// No such job; redelivering cannot help.
    NotFound,
    /// The delivery lost the job (lease taken over or dead-lettered) before its outcome was saved.
    Stale,
    /// The push body is not a job message; redelivering cannot help.
    Malformed,
    /// The dead-letter delivery was recorded (the job is failed, or was already finished).
    DeadLettered,
}

impl AckOutcome {
    /// The outcome's name, as in the ack body and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AckOutcome::Completed => "completed",
            AckOutcome::Failed => "failed",
            AckOutcome::Duplicate => "duplicate",
            AckOutcome::Exhausted => "exhausted",
            AckOutcome::NotDue => "not_due",
            AckOutcome::NotFound => "not_found",
            AckOutcome::Stale => "stale",
            AckOutcome::Malformed => "malformed",
            AckOutcome::DeadLettered => "dead_lettered",
        }
    }
}

/// The body of an ack, for logs and tests; Pub/Sub looks only at the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// What happened.
    pub outcome: AckOutcome,
    /// The job concerned, when the message named one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
}

impl Ack {
    /// An ack for `job_id`.
    pub fn job(outcome: AckOutcome, job_id: JobId) -> Self {
        Ack {
            outcome,
            job_id: Some(job_id),
        }
    }

    /// An ack for a message that names no usable job.
    pub fn malformed() -> Self {
        Ack {
            outcome: AckOutcome::Malformed,
            job_id: None,
        }
    }
}

impl IntoResponse for Ack {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_names_are_the_body_names() {
        for outcome in [
            AckOutcome::Completed,
            AckOutcome::Failed,
            AckOutcome::Duplicate,
            AckOutcome::Exhausted,
            AckOutcome::NotDue,
            AckOutcome::NotFound,
            AckOutcome::Stale,
            AckOutcome::Malformed,
            AckOutcome::DeadLettered,
        ] {
            assert_eq!(
                serde_json::to_value(outcome).expect("serialises"),
                outcome.as_str()
            );
        }
    }
}

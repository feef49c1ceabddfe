//! How a delivery is answered. Pub/Sub acks a 2xx and never sends the
//! message again; anything else is a nack, and it redelivers later. Each
//! answer gives both the HTTP response and its label in the metrics.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobs_domain::JobId;
use jobs_problem::Problem;
use serde::Serialize;

/// The answer to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx, for the job named (when the message named one): done with this message.
    Ack(AckReason, Option<JobId>),
    /// Non-2xx: deliver this message again later.
    Nack(NackReason),
}

/// Why a delivery was acked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AckReason {
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
    /// The dead-letter delivery failed the job (or found it already finished).
    DeadLettered,
    /// The dead-letter delivery requeued the job: it is published afresh after a delay.
    Requeued,
    /// The handler failed and the job type's own schedule retries it: the
    /// reconciler publishes it when due, with no Pub/Sub delivery spent.
    RetryScheduled,
    /// The job's key is at its type's concurrency limit: the job did not run
    /// and waits, pending, until the reconciler publishes it after a short
    /// delay. Acked, so no Pub/Sub delivery (and no attempt) is spent.
    Deferred,
    /// A client cancelled the job while it ran: the worker stopped the
    /// handler (or the claim found it with no live delivery) and the job is cancelled.
    Cancelled,
}

/// Why a delivery was nacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NackReason {
    /// Another delivery holds a live lease on the job: try again later.
    Busy(JobId),
    /// The handler failed and the job went back to pending: redeliver with backoff.
    Retrying {
        /// The job that goes back to pending.
        job_id: JobId,
        /// The handler's error.
        error: String,
    },
    /// The database cannot be reached; the delivery may pass later.
    Unavailable,
    /// A bug on our side; logged by the middleware, never sent.
    Internal(String),
}

/// Seconds Pub/Sub is told to wait after a 503 (it keeps its own backoff).
const RETRY_AFTER_SECONDS: u64 = 10;

impl AckReason {
    /// The reason's name, as in the ack body and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AckReason::Completed => "completed",
            AckReason::Failed => "failed",
            AckReason::Duplicate => "duplicate",
            AckReason::Exhausted => "exhausted",
            AckReason::NotDue => "not_due",
            AckReason::NotFound => "not_found",
            AckReason::Stale => "stale",
            AckReason::Malformed => "malformed",
            AckReason::DeadLettered => "dead_lettered",
            AckReason::Requeued => "requeued",
            AckReason::RetryScheduled => "retry_scheduled",
            AckReason::Deferred => "deferred",
            AckReason::Cancelled => "cancelled",
        }
    }
}

impl NackReason {
    fn status(&self) -> StatusCode {
        match self {
            NackReason::Busy(_) => StatusCode::CONFLICT,
            NackReason::Retrying { .. } | NackReason::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            NackReason::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type, also the metric label.
    fn slug(&self) -> &'static str {
        match self {
            NackReason::Busy(_) => "job-busy",
            NackReason::Retrying { .. } => "job-retrying",
            NackReason::Unavailable => "unavailable",
            NackReason::Internal(_) => "internal",
        }
    }

    fn detail(&self) -> String {
        match self {
            NackReason::Busy(id) => format!("job {id} is being processed by another delivery"),
            NackReason::Retrying { job_id, error } => {
                format!("job {job_id} failed and will be retried: {error}")
            }
            NackReason::Unavailable => "the database is unavailable; retry shortly".to_owned(),
            NackReason::Internal(_) => "internal error".to_owned(),
        }
    }
}

impl Answer {
    /// The answer's label in the metrics: the ack's reason, or the nack's problem type.
    pub fn label(&self) -> &'static str {
        match self {
            Answer::Ack(reason, _) => reason.as_str(),
            Answer::Nack(reason) => reason.slug(),
        }
    }
}

/// The body of an ack, for logs and tests; Pub/Sub looks only at the status.
#[derive(Serialize)]
struct AckBody {
    outcome: AckReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<JobId>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Ack(outcome, job_id) => Json(AckBody { outcome, job_id }).into_response(),
            Answer::Nack(reason) => {
                let problem = Problem::new(reason.status(), reason.slug(), reason.detail());
                let response = problem.into_response_with(RETRY_AFTER_SECONDS);
                match reason {
                    NackReason::Internal(detail) => jobs_problem::with_internal(response, detail),
                    _ => response,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metric_names_are_the_body_names() {
        for reason in [
            AckReason::Completed,
            AckReason::Failed,
            AckReason::Duplicate,
            AckReason::Exhausted,
            AckReason::NotDue,
            AckReason::NotFound,
            AckReason::Stale,
            AckReason::Malformed,
            AckReason::DeadLettered,
            AckReason::Requeued,
            AckReason::RetryScheduled,
        ] {
            assert_eq!(
                serde_json::to_value(reason).expect("serialises"),
                reason.as_str()
            );
        }
    }

    #[test]
    fn a_deferral_is_an_ack_labelled_deferred() {
        let deferred = Answer::Ack(AckReason::Deferred, Some(JobId::new()));
        assert_eq!(deferred.label(), "deferred");
        assert_eq!(
            serde_json::to_value(AckReason::Deferred).expect("serialises"),
            "deferred"
        );
        assert!(deferred.into_response().status().is_success());
    }

    #[test]
    fn nacks_are_problems_that_pubsub_redelivers() {
        let busy = Answer::Nack(NackReason::Busy(JobId::new())).into_response();
        assert_eq!(busy.status(), StatusCode::CONFLICT);
        let down = Answer::Nack(NackReason::Unavailable).into_response();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.headers()["retry-after"], "10");
        assert_eq!(Answer::Nack(NackReason::Unavailable).label(), "unavailable");
    }
}

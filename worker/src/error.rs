//! The one place worker failures become HTTP. To Pub/Sub every non-2xx answer
//! is a nack, so each variant here means "deliver this message again later";
//! anything a redelivery cannot fix is acked instead (see [`crate::ack`]).
//! Bodies are RFC 9457 `application/problem+json` with a stable `type`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobs_domain::{JobId, StoreError};
use jobs_problem::Problem;

/// Every non-2xx answer of the worker, one variant per client-visible outcome.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No push token, or one that fails verification.
    #[error("a valid push token is required: {0}")]
    Unauthorized(String),
    /// A valid token for another service account.
    #[error("the push token was not issued to the configured service account")]
    Forbidden,
    /// The body is over the configured limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(u32),
    /// The body could not be read at all.
    #[error("the request body could not be read: {0}")]
    Unreadable(String),
    /// Another delivery holds a live lease on the job: try again later.
    #[error("job {0} is being processed by another delivery")]
    Busy(JobId),
    /// The handler failed and the job went back to pending: redeliver with backoff.
    #[error("job {job_id} failed and will be retried: {error}")]
    Retrying {
        /// The job that goes back to pending.
        job_id: JobId,
        /// The handler's error.
        error: String,
    },
    /// A dependency (named) is down; the delivery may pass later.
    #[error("{0} is unavailable; retry shortly")]
    Unavailable(&'static str),
    /// No route matches the path.
    #[error("no such endpoint")]
    NoRoute,
    /// The route exists but not with this method.
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
    /// A bug on our side; details are logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl WorkerError {
    fn status(&self) -> StatusCode {
        match self {
            WorkerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WorkerError::Forbidden => StatusCode::FORBIDDEN,
            WorkerError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WorkerError::Unreadable(_) => StatusCode::BAD_REQUEST,
            WorkerError::Busy(_) => StatusCode::CONFLICT,
            WorkerError::Retrying { .. } | WorkerError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            WorkerError::NoRoute => StatusCode::NOT_FOUND,
            WorkerError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            WorkerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type; callers branch on it, never on `detail`.
    pub fn slug(&self) -> &'static str {
        match self {
            WorkerError::Unauthorized(_) => "unauthorized",
            WorkerError::Forbidden => "forbidden",
            WorkerError::PayloadTooLarge(_) => "payload-too-large",
            WorkerError::Unreadable(_) => "malformed-request",
            WorkerError::Busy(_) => "job-busy",
            WorkerError::Retrying { .. } => "job-retrying",
            WorkerError::Unavailable(_) => "unavailable",
            WorkerError::NoRoute => "not-found",
            WorkerError::MethodNotAllowed => "method-not-allowed",
            WorkerError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for WorkerError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Contended => WorkerError::Unavailable("the database"),
            other => WorkerError::Internal(other.to_string()),
        }
    }
}

/// Seconds a caller should wait after a 503.
const RETRY_AFTER_SECONDS: u64 = 10;

impl IntoResponse for WorkerError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let WorkerError::Internal(err) = &self {
            // Logged here, once; the caller gets nothing of it.
            tracing::error!(error = %err, "delivery failed");
        }
        Problem::new(status, self.slug(), self.to_string()).into_response_with(RETRY_AFTER_SECONDS)
    }
}

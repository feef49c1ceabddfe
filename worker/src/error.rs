//! The worker's refusals of a request before any delivery is decided: bad
//! tokens, bodies it cannot read, unknown routes, an unready database. To
//! Pub/Sub every non-2xx answer is a nack, so each means "deliver this again
//! later"; a delivery's own answers are in [`crate::answer`]. Bodies are
//! RFC 9457 `application/problem+json` with a stable `type`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobs_problem::Problem;

/// Every refusal of the worker's, one variant per client-visible outcome.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A dependency (named) is down; the request may pass later.
    #[error("{0} is unavailable; retry shortly")]
    Unavailable(&'static str),
    /// No route matches the path.
    #[error("no such endpoint")]
    NoRoute,
    /// The route exists but not with this method.
    #[error("this endpoint does not accept that method")]
    MethodNotAllowed,
}

impl WorkerError {
    fn status(&self) -> StatusCode {
        match self {
            WorkerError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WorkerError::Forbidden => StatusCode::FORBIDDEN,
            WorkerError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WorkerError::Unreadable(_) => StatusCode::BAD_REQUEST,
            WorkerError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WorkerError::NoRoute => StatusCode::NOT_FOUND,
            WorkerError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The stable problem type; callers branch on it, never on `detail`.
    pub fn slug(&self) -> &'static str {
        match self {
            WorkerError::Unauthorized(_) => "unauthorized",
            WorkerError::Forbidden => "forbidden",
            WorkerError::PayloadTooLarge(_) => "payload-too-large",
            WorkerError::Unreadable(_) => "malformed-request",
            WorkerError::Unavailable(_) => "unavailable",
            WorkerError::NoRoute => "not-found",
            WorkerError::MethodNotAllowed => "method-not-allowed",
        }
    }
}

/// Seconds a caller should wait after a 503.
const RETRY_AFTER_SECONDS: u64 = 10;

impl IntoResponse for WorkerError {
    fn into_response(self) -> Response {
        Problem::new(self.status(), self.slug(), self.to_string())
            .into_response_with(RETRY_AFTER_SECONDS)
    }
}

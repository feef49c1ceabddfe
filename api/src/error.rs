//! The one place errors become HTTP: every failure is an RFC 9457
//! `application/problem+json` body with a stable `type`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jobs_domain::{FieldError, StoreError};
pub use jobs_problem::Problem;

/// Everything a request can fail with, one variant per client-visible outcome.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a parameter cannot be read at all.
    #[error("{0}")]
    Malformed(String),
    /// No API key, or one that is unknown or revoked.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// No such job for this tenant.
    #[error("no job with that id")]
    NotFound,
    /// No job type of that name for this tenant.
    #[error("no job type with that name")]
    JobTypeNotFound,
    /// No schedule of that name for this tenant.
    #[error("no schedule with that name")]
    ScheduleNotFound,
    /// No route matches the path.
    #[error("no such endpoint; see /openapi.json")]
    NoRoute,
    /// The route exists but not with this method.
    #[error("this endpoint does not accept that method; see /openapi.json")]
    MethodNotAllowed,
    /// The request conflicts with the job's state or an earlier request.
    #[error("{0}")]
    Conflict(String),
    /// The body is over the configured limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(u32),
    /// The body is not `application/json`.
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// Fields that parse but break the rules.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    /// The tenant is over its request rate; it may retry after the pause.
    #[error("this API key's tenant is over its request rate; retry after {retry_after_seconds} s")]
    RateLimited {
        /// Seconds until the quota allows another request.
        retry_after_seconds: u64,
    },
    /// The job type's rate limit is reached for the payload's key; nothing was stored.
    #[error(
        "the job type's rate limit is reached for this key; retry after {retry_after_seconds} s"
    )]
    JobRateLimited {
        /// Seconds until a slot of the window frees.
        retry_after_seconds: u64,
    },
    /// A dependency is down; the client may retry after a pause.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// A bug on our side; details are logged, never sent.
    #[error("internal error")]
    Internal(#[source] StoreError),
    /// Stored data our code cannot read (a bug or a botched migration); logged, never sent.
    #[error("internal error")]
    Inconsistent(String),
}

impl ApiError {
    /// A single invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, message)])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound
            | ApiError::JobTypeNotFound
            | ApiError::ScheduleNotFound
            | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } | ApiError::JobRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::Inconsistent(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type; clients branch on it, never on `detail`.
    fn slug(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed-request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound
            | ApiError::JobTypeNotFound
            | ApiError::ScheduleNotFound
            | ApiError::NoRoute => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::Invalid(_) => "invalid-fields",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::JobRateLimited { .. } => "job-rate-limited",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) | ApiError::Inconsistent(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Transition(refused) => ApiError::Conflict(refused.to_string()),
            conflict @ (StoreError::IdempotencyConflict(_) | StoreError::BatchConflicts(_)) => {
                ApiError::Conflict(conflict.to_string())
            }
            StoreError::Unavailable(_) | StoreError::Contended => ApiError::Unavailable,
            StoreError::RateLimited { retry_after } => ApiError::JobRateLimited {
                retry_after_seconds: retry_after.as_secs(),
            },
            other => ApiError::Internal(other),
        }
    }
}

/// Seconds a client should wait after a 503.
const RETRY_AFTER_SECONDS: u64 = 5;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Logged once, by the middleware inside the trace span; the client gets nothing of it.
        let internal = match &self {
            ApiError::Internal(err) => Some(match std::error::Error::source(err) {
                Some(source) => format!("{err}: {source}"),
                None => err.to_string(),
            }),
            ApiError::Inconsistent(detail) => Some(detail.clone()),
            _ => None,
        };
        let problem = Problem::new(status, self.slug(), self.to_string());
        let retry_after = match &self {
            ApiError::RateLimited {
                retry_after_seconds,
            }
            | ApiError::JobRateLimited {
                retry_after_seconds,
            } => *retry_after_seconds,
            _ => RETRY_AFTER_SECONDS,
        };
        let problem = match self {
            ApiError::Invalid(errors) => problem.with_errors(errors),
            _ => problem,
        };
        let response = problem.into_response_with(retry_after);
        match internal {
            Some(detail) => jobs_problem::with_internal(response, detail),
            None => response,
        }
    }
}

//! RFC 9457 `application/problem+json` responses, shared by the API and the
//! worker so both answer errors in one shape. Each server keeps its own error
//! enum and decides status, stable type and detail; this crate renders them,
//! and its middleware logs the internal errors, once, inside the request's
//! trace span.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jobs_domain::FieldError;
use serde::Serialize;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:problem:invalid-fields`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The fields at fault, for `invalid-fields`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem of kind `slug` (its type becomes `urn:problem:<slug>`).
    pub fn new(status: StatusCode, slug: &str, detail: String) -> Self {
        Problem {
            problem_type: format!("urn:problem:{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
        }
    }

    /// The same problem with the fields at fault.
    pub fn with_errors(self, errors: Vec<FieldError>) -> Self {
        Problem { errors, ..self }
    }

    /// The response: the JSON body, its content type, `WWW-Authenticate` on a
    /// 401, and `Retry-After: retry_after_seconds` on a 429 or a 503.
    pub fn into_response_with(self, retry_after_seconds: u64) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
            }
            _ => {}
        }
        response
    }
}

/// The detail of an internal error, carried from the response to the
/// logging middleware; it never reaches the client.
#[derive(Debug, Clone)]
struct InternalDetail(String);

/// Marks `response` as an internal error whose `detail` the middleware logs.
pub fn with_internal(mut response: Response, detail: String) -> Response {
    response.extensions_mut().insert(InternalDetail(detail));
    response
}

/// Middleware that logs the errors of the responses passing through it,
/// once each: internal errors at ERROR, and an outage (a 503) at WARN once per
/// [`OUTAGE_LOG_INTERVAL`], at DEBUG in between, so a minute without the
/// database is a line, not one per request. Install it inside the trace layer
/// so the log has the span.
pub async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(error = %detail, "request failed");
    } else if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        if OUTAGES.first_in_interval(tokio::time::Instant::now()) {
            tracing::warn!(
                "a dependency is unavailable; answering 503 (further 503s within {} s are logged at debug)",
                OUTAGE_LOG_INTERVAL.as_secs()
            );
        } else {
            tracing::debug!("a dependency is still unavailable; answered 503");
        }
    }
    response
}

/// How often an ongoing outage is logged at WARN.
pub const OUTAGE_LOG_INTERVAL: Duration = Duration::from_secs(60);

static OUTAGES: OutageLog = OutageLog::new();

/// When an outage was last logged at WARN.
struct OutageLog {
    last: Mutex<Option<tokio::time::Instant>>,
}

impl OutageLog {
    const fn new() -> Self {
        OutageLog {
            last: Mutex::new(None),
        }
    }

    /// True for the first 503 of each interval.
    fn first_in_interval(&self, now: tokio::time::Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        match *last {
            Some(at) if now.duration_since(at) < OUTAGE_LOG_INTERVAL => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_logged_once_per_interval() {
        let log = OutageLog::new();
        let start = tokio::time::Instant::now();
        assert!(log.first_in_interval(start));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(!log.first_in_interval(tokio::time::Instant::now()));
        tokio::time::advance(OUTAGE_LOG_INTERVAL).await;
        assert!(log.first_in_interval(tokio::time::Instant::now()));
    }

    #[test]
    fn a_503_and_a_429_say_when_to_retry_and_a_401_how_to_authenticate() {
        let unavailable = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "down".into(),
        )
        .into_response_with(7);
        assert_eq!(unavailable.headers()[header::RETRY_AFTER], "7");
        let limited = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "slow".into())
            .into_response_with(30);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "30");
        assert_eq!(
            unavailable.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let unauthorized = Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "key".into())
            .into_response_with(7);
        assert_eq!(unauthorized.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert!(unauthorized.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn field_errors_appear_only_when_there_are_some() {
        let plain =
            serde_json::to_value(Problem::new(StatusCode::NOT_FOUND, "not-found", "x".into()))
                .expect("json");
        assert_eq!(plain["type"], "urn:problem:not-found");
        assert_eq!(plain["title"], "Not Found");
        assert!(plain.get("errors").is_none());
        let invalid = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-fields",
            "x".into(),
        )
        .with_errors(vec![FieldError::new("type", "unknown")]);
        let invalid = serde_json::to_value(invalid).expect("json");
        assert_eq!(invalid["errors"][0]["field"], "type");
    }
}

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

/// Middleware that logs the internal errors of the responses passing
/// through it; install it inside the trace layer so the log has the span.
pub async fn log_internal_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(error = %detail, "request failed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

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

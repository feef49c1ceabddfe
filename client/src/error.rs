//! What a call can fail with: the API's problem+json answers, each kind as a
//! variant that says what to do about it, and the failures of getting an
//! answer at all.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};

/// Everything a call of [`Client`](crate::Client) can fail with.
///
/// The [`Problem`]s are boxed, so a `Result` of the client stays small.
///
/// The API's refusals (RFC 9457 `application/problem+json`) are one variant
/// per thing the caller can do about them, each carrying the [`Problem`];
/// branch on the variant, or on [`Problem::problem_type`], never on the
/// `detail` text. Not getting an answer is [`Error::Transport`], and an answer
/// that is not what the API sends is [`Error::UnexpectedResponse`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401 or 403: the API key is missing, unknown or revoked (or a proxy
    /// in front of the API refused it). Retrying will not help: check the
    /// key (`api keys create --tenant NAME` makes one).
    #[error("{0}")]
    Unauthorized(Box<Problem>),
    /// 404: no job, job type or schedule of that id or name for this
    /// tenant (finished jobs are deleted after their type's retention), or
    /// no such endpoint (an API older than this client).
    #[error("{0}")]
    NotFound(Box<Problem>),
    /// 409: the request conflicts with the resource's state (cancelling a
    /// job that is no longer pending, retrying one that has not failed), an
    /// idempotency key reused with another body, or a built-in type's name.
    /// Read the resource again and decide; the same request will conflict
    /// again.
    #[error("{0}")]
    Conflict(Box<Problem>),
    /// 422: fields break the rules; [`Problem::errors`] names each one and
    /// says why. Nothing was stored: fix the request before sending it again.
    #[error("{0}")]
    InvalidFields(Box<Problem>),
    /// 429: the tenant is over its request rate (`urn:problem:rate-limited`),
    /// or the job type's rate limit is reached for the payload's key
    /// (`urn:problem:job-rate-limited`). Nothing was stored: send the same
    /// request again after [`Problem::retry_after`].
    #[error("{0}")]
    RateLimited(Box<Problem>),
    /// 503: the service cannot serve now (its database is unreachable, or
    /// the request took too long). A submit may have been stored: send it
    /// again after [`Problem::retry_after`] with the same idempotency key,
    /// which returns the stored job instead of storing a second one.
    #[error("{0}")]
    Unavailable(Box<Problem>),
    /// Any other 4xx (400 malformed body, 405, 408 body too slow, 413 body
    /// too large, 415): the request cannot be served as sent. Change it;
    /// the same request fails the same way.
    #[error("{0}")]
    BadRequest(Box<Problem>),
    /// Any other 5xx: a fault in the service, logged on its side. Retrying
    /// later may work; report it if it persists.
    #[error("{0}")]
    Server(Box<Problem>),
    /// No answer: the URL's host does not resolve, the connection is
    /// refused or reset, TLS fails, or the API did not answer within the
    /// client's timeout. Check the URL and the network; a submit that timed
    /// out may have been stored, so send it again with the same idempotency
    /// key.
    #[error("cannot reach the jobs API")]
    Transport(#[source] reqwest::Error),
    /// An answer that is not the API's: an error page of a proxy or load
    /// balancer, or a body this client cannot read (an API of another
    /// version). Check the URL points at the jobs API.
    #[error("the jobs API answered {status} with {message}")]
    UnexpectedResponse {
        /// The HTTP status of the answer.
        status: u16,
        /// What was wrong with it.
        message: String,
    },
    /// An argument this client cannot send: a base URL that is not an
    /// http(s) URL, an API key a header cannot carry, or a name that cannot
    /// be a path segment (empty, `.` or `..`). Nothing was sent.
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    /// The problem document, when the API refused the request.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Unauthorized(problem)
            | Error::NotFound(problem)
            | Error::Conflict(problem)
            | Error::InvalidFields(problem)
            | Error::RateLimited(problem)
            | Error::Unavailable(problem)
            | Error::BadRequest(problem)
            | Error::Server(problem) => Some(problem.as_ref()),
            Error::Transport(_) | Error::UnexpectedResponse { .. } | Error::InvalidArgument(_) => {
                None
            }
        }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::UnexpectedResponse { status, .. } => Some(*status),
            other => other.problem().map(|problem| problem.status),
        }
    }

    /// How long the API asked to wait before trying again (429 and 503).
    pub fn retry_after(&self) -> Option<Duration> {
        self.problem().and_then(|problem| problem.retry_after)
    }

    /// True when the same request may succeed later without a change:
    /// [`Error::RateLimited`] and [`Error::Unavailable`]. Reads (and
    /// submits under an idempotency key) are safe to send again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::RateLimited(_) | Error::Unavailable(_))
    }

    /// The error for an answer whose status is not a success.
    pub(crate) async fn from_response(response: reqwest::Response) -> Error {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let json = is_json(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(err) => return Error::Transport(err),
        };
        match serde_json::from_slice::<ProblemBody>(&body) {
            Ok(body) if json => Error::from_problem(Problem {
                status: status.as_u16(),
                problem_type: body.problem_type,
                title: body.title,
                detail: body.detail,
                errors: body.errors,
                retry_after,
            }),
            _ => Error::UnexpectedResponse {
                status: status.as_u16(),
                message: format!("a body that is not a problem document: {}", excerpt(&body)),
            },
        }
    }

    fn from_problem(problem: Problem) -> Error {
        let problem = Box::new(problem);
        match StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR) {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized(problem),
            StatusCode::NOT_FOUND => Error::NotFound(problem),
            StatusCode::CONFLICT => Error::Conflict(problem),
            StatusCode::UNPROCESSABLE_ENTITY => Error::InvalidFields(problem),
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited(problem),
            StatusCode::SERVICE_UNAVAILABLE => Error::Unavailable(problem),
            status if status.is_client_error() => Error::BadRequest(problem),
            _ => Error::Server(problem),
        }
    }
}

/// An RFC 9457 problem document, as the API answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The HTTP status of the answer.
    pub status: u16,
    /// The stable kind of problem, e.g. `urn:problem:invalid-fields`; the
    /// README's error table lists them.
    pub problem_type: String,
    /// A short summary of the kind (the status's reason phrase).
    pub title: String,
    /// What went wrong with this request, for people.
    pub detail: String,
    /// The fields at fault, for `urn:problem:invalid-fields`.
    pub errors: Vec<FieldError>,
    /// How long to wait before trying again, from `Retry-After` (429, 503).
    pub retry_after: Option<Duration>,
}

/// `detail`, then each field at fault (`detail: field: message; ...`), on
/// one line.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)?;
        for (index, error) in self.errors.iter().enumerate() {
            let separator = if index == 0 { ": " } else { "; " };
            write!(f, "{separator}{}: {}", error.field, error.message)?;
        }
        Ok(())
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldError {
    /// The field, as a path into the request (`payload.url`, `jobs/3/type`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The body of a problem answer; `type` and `detail` tell it from other JSON.
#[derive(Deserialize)]
struct ProblemBody {
    #[serde(rename = "type")]
    problem_type: String,
    #[serde(default)]
    title: String,
    detail: String,
    #[serde(default)]
    errors: Vec<FieldError>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/problem+json")
                || essence.eq_ignore_ascii_case("application/json")
        })
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The start of a body, on one line, for a message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MOST: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "an empty body".to_owned();
    }
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("`{}…`", &text[..cut]),
        None => format!("`{text}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn problem(status: u16, errors: Vec<FieldError>) -> Problem {
        Problem {
            status,
            problem_type: "urn:problem:invalid-fields".to_owned(),
            title: String::new(),
            detail: "the request has invalid fields".to_owned(),
            errors,
            retry_after: None,
        }
    }

    #[test]
    fn a_problem_reads_as_one_line_with_its_fields() {
        let fields = vec![
            FieldError {
                field: "payload.url".to_owned(),
                message: "is required".to_owned(),
            },
            FieldError {
                field: "max_attempts".to_owned(),
                message: "must be from 1 to 100".to_owned(),
            },
        ];
        assert_eq!(
            problem(422, fields).to_string(),
            "the request has invalid fields: payload.url: is required; max_attempts: must be from 1 to 100"
        );
        assert_eq!(
            problem(422, Vec::new()).to_string(),
            "the request has invalid fields"
        );
    }

    #[test]
    fn each_status_is_the_variant_that_says_what_to_do() {
        let kind = |status| match Error::from_problem(problem(status, Vec::new())) {
            Error::Unauthorized(_) => "unauthorized",
            Error::NotFound(_) => "not found",
            Error::Conflict(_) => "conflict",
            Error::InvalidFields(_) => "invalid",
            Error::RateLimited(_) => "rate limited",
            Error::Unavailable(_) => "unavailable",
            Error::BadRequest(_) => "bad request",
            Error::Server(_) => "server",
            _ => "other",
        };
        let expected = [
            (400, "bad request"),
            (401, "unauthorized"),
            (403, "unauthorized"),
            (404, "not found"),
            (405, "bad request"),
            (409, "conflict"),
            (413, "bad request"),
            (422, "invalid"),
            (429, "rate limited"),
            (500, "server"),
            (502, "server"),
            (503, "unavailable"),
        ];
        for (status, expected) in expected {
            assert_eq!(kind(status), expected, "{status}");
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn an_excerpt_is_one_short_line() {
        assert_eq!(excerpt(b""), "an empty body");
        assert_eq!(
            excerpt(b"<html>\n  <b>Bad gateway</b>\n</html>"),
            "`<html> <b>Bad gateway</b> </html>`"
        );
        let long = "x".repeat(500);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), 200 + 3);
    }
}

//! A typed async client for the jobs API: one method per operation of the
//! API's OpenAPI document (a test checks the served `/openapi.json` against
//! them), the requests and answers as serde types of the same shape, and the
//! API's problem+json refusals as a typed [`Error`].
//!
//! ```no_run
//! use jobs_client::{Client, NewJob};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), jobs_client::Error> {
//! let client = Client::new("https://jobs.example.com", "jk_...")?;
//! let submit = NewJob::new("noop", serde_json::json!({"order": 42}))
//!     .idempotency_key("order-42");
//! let job = client.submit(&submit).await?.value;
//! let done = client.wait_for_job(job.id, Duration::from_secs(1)).await?;
//! println!("{} is {}", done.id, done.status);
//! # Ok(())
//! # }
//! ```
//!
//! Every method sends one request (but [`Client::wait_for_job`], which
//! polls) and never retries on its own: [`Error::is_transient`] and
//! [`Error::retry_after`] say when trying again makes sense.

mod error;
mod job_types;
mod jobs;
mod probes;
mod schedules;
mod stats;

pub use error::{Error, FieldError, Problem};
pub use job_types::{
    CallbackSecret, Concurrency, Handler, JobType, JobTypeDefinition, JobTypeWithSecret, Retention,
    RetryStrategy, Target, TargetAuth,
};
pub use jobs::{
    FailureReason, Job, JobEvent, JobPage, JobQuery, JobStatus, NewJob, ParseError, Requeued,
    RetryFailed,
};
pub use schedules::{JobTemplate, Schedule, ScheduleDefinition, ScheduledJob};
pub use stats::{JobStats, MinuteCounts, OldestPending, StatusCounts, TypeCounts};
pub use uuid::Uuid;

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use url::Url;

/// How long a connection may take to open, by default.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take in all, by default; above the API's own
/// request timeout, so the API's 503 arrives first.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one jobs API, holding one tenant's API key. Cheap to clone:
/// clones share their connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    authorization: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What a create-or-replace answered: the stored resource, and whether the
/// call created it (201, or 202 for a submit) or found it (200: a replaced
/// type or schedule, a rotated secret, a replayed idempotent submit).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Saved<T> {
    /// The resource as stored.
    pub value: T,
    /// True when this call created it.
    pub created: bool,
}

impl Client {
    /// A client of the API at `base_url` (`https://jobs.example.com`, or
    /// with a path prefix) authenticating with `api_key`, with a 10 s
    /// connect and a 60 s request timeout.
    pub fn new(base_url: &str, api_key: &str) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("jobs-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| {
                Error::InvalidArgument(format!("cannot build the HTTP client: {err}"))
            })?;
        Client::with_http_client(http, base_url, api_key)
    }

    /// As [`Client::new`], sending through `http` (its timeouts, proxy and
    /// TLS settings).
    pub fn with_http_client(
        http: reqwest::Client,
        base_url: &str,
        api_key: &str,
    ) -> Result<Client, Error> {
        let base = Url::parse(base_url).map_err(|err| {
            Error::InvalidArgument(format!("the API URL `{base_url}` is not a URL: {err}"))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::InvalidArgument(format!(
                "the API URL `{base_url}` is not an http or https URL"
            )));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| {
                Error::InvalidArgument(
                    "the API key holds characters a header cannot carry (a line break?)".to_owned(),
                )
            })?;
        authorization.set_sensitive(true);
        Ok(Client {
            http,
            base,
            authorization,
        })
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of `segments` under the base, each percent-encoded whole (`/`
    /// and `?` too), so a name cannot reach another path. An empty, `.` or
    /// `..` segment, which no name of the API can be and which URLs resolve
    /// away, is refused.
    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut path = self.base.path().trim_end_matches('/').to_owned();
        for segment in segments {
            if matches!(*segment, "" | "." | "..") {
                return Err(Error::InvalidArgument(format!(
                    "`{segment}` cannot be a name: it is no path segment"
                )));
            }
            path.push('/');
            path.push_str(&encode_segment(segment));
        }
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http
            .request(method, url)
            .header(AUTHORIZATION, self.authorization.clone())
    }

    /// Sends `request`; an answer that is not a success is the [`Error`] it says.
    async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        let response = request.send().await.map_err(Error::Transport)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Error::from_response(response).await)
        }
    }

    /// Sends `request` and reads the JSON answer as `T`.
    async fn fetch<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, Error> {
        let response = self.send(request).await?;
        Ok(read(response).await?.1)
    }

    /// Sends `request`, reads the answer as `T` and whether it was a 201/202.
    async fn save<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<Saved<T>, Error> {
        let response = self.send(request).await?;
        let (status, value) = read(response).await?;
        Ok(Saved {
            value,
            created: status == 201 || status == 202,
        })
    }

    /// Sends `request` whose answer has no body (204).
    async fn execute(&self, request: RequestBuilder) -> Result<(), Error> {
        self.send(request).await.map(drop)
    }
}

/// `segment` with every byte but RFC 3986's unreserved ones percent-encoded.
fn encode_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The JSON body of a successful answer, with its status.
async fn read<T: DeserializeOwned>(response: Response) -> Result<(u16, T), Error> {
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(Error::Transport)?;
    serde_json::from_slice(&body)
        .map(|value| (status, value))
        .map_err(|err| Error::UnexpectedResponse {
            status,
            message: format!(
                "a body this client cannot read ({err}): {}",
                error::excerpt(&body)
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::new(base, "jk_test").expect("a valid client")
    }

    #[test]
    fn paths_go_under_the_base_and_names_are_one_encoded_segment() {
        let url = |base: &str, segments: &[&str]| {
            client(base)
                .url(segments)
                .map(|url| url.to_string())
                .map_err(|err| err.to_string())
        };
        assert_eq!(
            url("http://127.0.0.1:8080", &["v1", "jobs"]).as_deref(),
            Ok("http://127.0.0.1:8080/v1/jobs")
        );
        assert_eq!(
            url(
                "https://example.com/jobs-api/",
                &["v1", "schedules", "a/../b?c", "é"]
            )
            .as_deref(),
            Ok("https://example.com/jobs-api/v1/schedules/a%2F..%2Fb%3Fc/%C3%A9")
        );
        for name in ["", ".", ".."] {
            assert_eq!(
                url("http://127.0.0.1:8080/", &["v1", "job-types", name]),
                Err(format!("`{name}` cannot be a name: it is no path segment"))
            );
        }
    }

    #[test]
    fn a_bad_url_or_key_is_refused_before_anything_is_sent() {
        for base in ["not a url", "ftp://example.com", "mailto:jobs@example.com"] {
            assert!(
                matches!(Client::new(base, "jk_x"), Err(Error::InvalidArgument(_))),
                "{base}"
            );
        }
        assert!(matches!(
            Client::new("http://127.0.0.1", "jk_\nx"),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let shown = format!("{:?}", client("http://127.0.0.1:8080"));
        assert!(!shown.contains("jk_test"), "{shown}");
    }
}

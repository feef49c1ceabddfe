//! The `http` job type: one outbound HTTP request. 2xx succeeds; 408, 429,
//! 5xx, connection errors and timeouts are retryable; other statuses are
//! permanent. Redirects are followed (at most [`MAX_REDIRECTS`], each hop
//! checked like the first), so a final 3xx means a redirect that could not be
//! followed and is permanent.

use super::http_guard::{BlockedDestination, PublicOnlyResolver, check_literal_host};
use super::{Handler, HandlerError};
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::job_types::{HttpPayload, parse_payload};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, redirect};
use serde_json::{Value, json};
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// How much of a successful response body the result keeps.
pub const RESULT_BODY_LIMIT: usize = 64 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of the `http` handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Let jobs reach loopback, private and link-local addresses (tests and local runs only).
    pub allow_private_networks: bool,
}

/// Runs `http` jobs.
#[derive(Debug, Clone)]
pub struct HttpHandler {
    client: reqwest::Client,
    guarded: bool,
}

#[derive(Debug, Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
struct TooManyRedirects;

impl HttpHandler {
    /// A handler with its own connection pool.
    pub fn new(settings: &HttpSettings) -> Result<Self, super::RegistryError> {
        let guarded = !settings.allow_private_networks;
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(TooManyRedirects);
            }
            // Names on the new hop go through the resolver; literal addresses do not.
            match check_literal_host(attempt.url()) {
                Err(blocked) if guarded => attempt.error(blocked),
                _ => attempt.follow(),
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("jobs-worker/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(policy);
        if guarded {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder.build().map_err(|err| super::RegistryError::Setup {
            job_type: "http",
            message: err.to_string(),
        })?;
        Ok(HttpHandler { client, guarded })
    }
}

#[async_trait]
impl Handler for HttpHandler {
    fn job_type(&self) -> &'static str {
        "http"
    }

    async fn run(&self, job: &Job) -> Result<Value, HandlerError> {
        let payload: HttpPayload = parse_payload(&job.payload)?;
        if self.guarded {
            check_literal_host(&payload.url)
                .map_err(|blocked| HandlerError::Permanent(blocked.to_string()))?;
        }
        let method = Method::from_bytes(payload.method.as_bytes())
            .map_err(|_| HandlerError::Permanent("method: not an HTTP method".to_owned()))?;
        let headers = headers(&payload)?;
        let timeout_seconds = match payload.timeout_seconds {
            Some(seconds) => u64::from(seconds),
            None => u64::try_from(job.timeout_seconds).unwrap_or(1),
        };
        let timeout = Duration::from_secs(timeout_seconds.max(1));
        // Only the host is logged: paths and queries often carry tokens.
        tracing::debug!(method = %method, host = payload.url.host_str().unwrap_or_default(), "sending the request");
        let mut request = self
            .client
            .request(method, payload.url)
            .headers(headers)
            .timeout(timeout);
        if let Some(body) = payload.body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|err| failure(&err, timeout))?;
        let status = response.status();
        if status.is_success() {
            let body = read_prefix(response, RESULT_BODY_LIMIT).await;
            return Ok(json!({"status": status.as_u16(), "body": body}));
        }
        Err(status_error(status))
    }
}

/// The payload's headers, marked sensitive so no debug output shows their values.
fn headers(payload: &HttpPayload) -> Result<HeaderMap, HandlerError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &payload.headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            HandlerError::Permanent(format!("headers: `{name}` is not a valid header name"))
        })?;
        // The value is never quoted: headers carry credentials.
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            HandlerError::Permanent(format!("headers.{name}: not a valid header value"))
        })?;
        header_value.set_sensitive(true);
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// How a non-2xx status ends the attempt.
fn status_error(status: StatusCode) -> HandlerError {
    let message = format!("the server answered {status}");
    if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        HandlerError::Retryable(message)
    } else if status.is_redirection() {
        HandlerError::Permanent(format!("{message}, a redirect that cannot be followed"))
    } else {
        HandlerError::Permanent(message)
    }
}

/// How a request that got no response ends the attempt.
fn failure(err: &reqwest::Error, timeout: Duration) -> HandlerError {
    if let Some(blocked) = find_source::<BlockedDestination>(err) {
        return HandlerError::Permanent(blocked.to_string());
    }
    if let Some(too_many) = find_source::<TooManyRedirects>(err) {
        return HandlerError::Permanent(too_many.to_string());
    }
    if err.is_timeout() {
        return HandlerError::Retryable(format!("no response within {} s", timeout.as_secs()));
    }
    if err.is_builder() {
        return HandlerError::Permanent(format!("the request cannot be built: {}", chain(err)));
    }
    // Connection refused or reset, DNS failures, broken bodies: the next attempt may pass.
    HandlerError::Retryable(chain(err))
}

/// An error of type `E` anywhere in `err`'s source chain.
fn find_source<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The error and its causes on one line, without the URL (it may hold tokens).
fn chain(err: &reqwest::Error) -> String {
    let mut message = String::from(match () {
        () if err.is_connect() => "cannot connect",
        () if err.is_body() || err.is_decode() => "the response broke off",
        () => "the request failed",
    });
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The first `limit` bytes of the body as text. A body that breaks off after
/// a 2xx keeps what arrived: the request itself succeeded, and repeating it
/// could repeat its effect.
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - bytes.len());
                bytes.extend_from_slice(&chunk[..take]);
            }
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(error = %chain(&err), "the response body broke off; keeping what arrived");
                break;
            }
        }
    }
    utf8_text(&bytes)
}

/// Bytes as text; a character cut in two by the limit is dropped rather than shown as U+FFFD.
fn utf8_text(bytes: &[u8]) -> String {
    let end = match std::str::from_utf8(bytes) {
        Err(err) if err.error_len().is_none() => err.valid_up_to(),
        _ => bytes.len(),
    };
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(
                matches!(status_error(status), HandlerError::Retryable(_)),
                "{code}"
            );
        }
        for code in [301, 400, 401, 403, 404, 410, 422] {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(
                matches!(status_error(status), HandlerError::Permanent(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn a_cut_character_is_dropped() {
        let text = "héllo".as_bytes();
        assert_eq!(utf8_text(&text[..2]), "h");
        assert_eq!(utf8_text(text), "héllo");
        assert_eq!(utf8_text(b"a\xffb"), "a\u{fffd}b");
    }
}

//! The `http` job type: one outbound HTTP request. 2xx succeeds; 408, 429,
//! 5xx, connection errors and timeouts are retryable; other statuses are
//! permanent. Redirects are followed (at most [`MAX_REDIRECTS`], each hop
//! checked like the first), so a final 3xx means a redirect that could not be
//! followed and is permanent.

use crate::http_guard::{BlockedDestination, PublicOnlyResolver, check_literal_host};
use crate::job_type::{HandlerError, JobType, Payload, SetupError};
use crate::settings::HandlerSettings;
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::submission::schema::{NO_NUL_PATTERN, nullable, text};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_http::HeaderInjector;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, redirect};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use url::Url;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// How much of a successful response body the result keeps.
pub const RESULT_BODY_LIMIT: usize = 64 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The payload of the `http` type: one outbound HTTP request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPayload {
    /// HTTP method; GET when absent.
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute `http` or `https` URL.
    #[serde(deserialize_with = "url_as_written")]
    pub url: Url,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body, sent as given.
    pub body: Option<String>,
    /// Timeout of the request itself; the job's timeout applies when absent.
    pub timeout_seconds: Option<u32>,
}

/// A URL parsed only if it has no whitespace or control character, which the
/// parser would drop silently, so that the job calls the URL the client wrote.
pub(crate) fn url_as_written<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    let raw = String::deserialize(deserializer)?;
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(D::Error::custom(
            "must not contain whitespace or control characters",
        ));
    }
    Url::parse(&raw).map_err(|err| D::Error::custom(format_args!("not a valid URL: {err}")))
}

fn default_method() -> String {
    "GET".to_owned()
}

pub(crate) const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A header name is an RFC 9110 token.
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value may hold tab but no other ASCII control character (RFC 9110 field-value).
pub(crate) fn is_header_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

pub(crate) use jobs_domain::submission::schema::URL_PATTERN;

impl Payload for HttpPayload {
    fn validate(&self) -> Result<(), String> {
        if !METHODS.contains(&self.method.as_str()) {
            return Err(format!("method: must be one of {}", METHODS.join(", ")));
        }
        if !matches!(self.url.scheme(), "http" | "https") || self.url.host().is_none() {
            return Err("url: must be an absolute http or https URL".to_owned());
        }
        for (name, value) in &self.headers {
            if !is_header_name(name) {
                return Err(format!("headers: `{name}` is not a valid header name"));
            }
            if !value.bytes().all(is_header_value_byte) {
                return Err(format!(
                    "headers.{name}: must not contain control characters other than tab"
                ));
            }
        }
        if self.timeout_seconds == Some(0) {
            return Err("timeout_seconds: must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Request headers as the OpenAPI document states them: RFC 9110 token
/// names, values with no control character but tab.
pub(crate) fn headers_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(text(
            r"^[0-9A-Za-z!#$%&'*+.^_`|~-]+$",
            "RFC 9110 token",
        )))
        .additional_properties(Some(text(
            r"^[^\x00-\x08\x0a-\x1f\x7f]*$",
            "No control characters but tab.",
        )))
}

impl PartialSchema for HttpPayload {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "The payload of the `http` type: one outbound HTTP request.",
            ))
            .property(
                "method",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(METHODS))
                    .default(Some("GET".into()))
                    .description(Some("HTTP method; GET when absent.")),
            )
            .property(
                "url",
                text(
                    URL_PATTERN,
                    "Absolute `http` or `https` URL with no whitespace or control characters. \
                     The pattern is a conservative form; any such URL with a host is accepted.",
                ),
            )
            .property(
                "headers",
                headers_schema().description(Some("Request headers: RFC 9110 token names.")),
            )
            .property(
                "body",
                nullable(text(NO_NUL_PATTERN, "Request body, sent as given.")),
            )
            .property(
                "timeout_seconds",
                nullable(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1))
                        .maximum(Some(u32::MAX))
                        .description(Some(
                            "Timeout of the request itself; the job's timeout applies when absent.",
                        )),
                ),
            )
            .required("url")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for HttpPayload {}

/// The `http` job type, with its own connection pool.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    guarded: bool,
}

#[derive(Debug, Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
struct TooManyRedirects;

#[async_trait]
impl JobType for Http {
    const NAME: &'static str = "http";
    type Payload = HttpPayload;

    fn build(settings: &HandlerSettings) -> Result<Self, SetupError> {
        let guarded = !settings.http_allow_private_networks;
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
        let client = builder.build().map_err(|err| SetupError {
            job_type: Self::NAME,
            message: err.to_string(),
        })?;
        Ok(Http { client, guarded })
    }

    async fn run(
        &self,
        payload: HttpPayload,
        job: &Job,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Value, HandlerError> {
        if self.guarded {
            check_literal_host(&payload.url)
                .map_err(|blocked| HandlerError::Permanent(blocked.to_string()))?;
        }
        let method = Method::from_bytes(payload.method.as_bytes())
            .map_err(|_| HandlerError::Permanent("method: not an HTTP method".to_owned()))?;
        let mut headers = sensitive_headers(&payload.headers)?;
        let span = outbound_span(&method, &payload.url, &mut headers);
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
        // A cancel drops the request: its connection is closed.
        let response = tokio::select! {
            sent = request.send().instrument(span) => sent.map_err(|err| failure(&err, timeout))?,
            () = cancel.cancelled() => return Err(HandlerError::Cancelled),
        };
        let status = response.status();
        if status.is_success() {
            let body = read_prefix(response, RESULT_BODY_LIMIT).await;
            return Ok(json!({"status": status.as_u16(), "body": body}));
        }
        Err(status_error(status))
    }
}

/// Configured headers, marked sensitive so no debug output shows their values.
pub(crate) fn sensitive_headers(
    configured: &BTreeMap<String, String>,
) -> Result<HeaderMap, HandlerError> {
    let mut headers = HeaderMap::new();
    for (name, value) in configured {
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

/// The span of one outbound request. Its trace context goes in the request's
/// `traceparent` (and `tracestate`) header, over a configured one, so the
/// server's spans continue the job's trace.
pub(crate) fn outbound_span(method: &Method, url: &Url, headers: &mut HeaderMap) -> Span {
    let span = tracing::info_span!(
        "outbound request",
        otel.name = %method,
        otel.kind = "client",
        http.request.method = %method,
        // Only the host: paths and queries often carry tokens.
        server.address = url.host_str().unwrap_or_default(),
    );
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
    span
}

/// How a non-2xx status ends the attempt.
pub(crate) fn status_error(status: StatusCode) -> HandlerError {
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
pub(crate) fn failure(err: &reqwest::Error, timeout: Duration) -> HandlerError {
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
async fn read_prefix(response: reqwest::Response, limit: usize) -> String {
    utf8_text(&read_prefix_bytes(response, limit).await)
}

/// The first `limit` bytes of the body, or what arrived before it broke off
/// (logged), for the reasons [`read_prefix`] gives.
pub(crate) async fn read_prefix_bytes(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
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
    bytes
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

    fn check(payload: &Value) -> Result<HttpPayload, jobs_domain::PayloadError> {
        crate::parse_payload::<HttpPayload>(payload)
    }

    #[test]
    fn a_plain_get_is_valid() {
        assert!(check(&json!({"url": "https://example.com/hook"})).is_ok());
    }

    #[test]
    fn non_http_schemes_and_bad_headers_are_rejected() {
        assert!(check(&json!({"url": "file:///etc/passwd"})).is_err());
        assert!(check(&json!({"url": "not a url"})).is_err());
        let bad_header = json!({"url": "http://x.test", "headers": {"X": "a\r\nInjected: 1"}});
        assert!(check(&bad_header).is_err());
        assert!(check(&json!({"url": "http://x.test", "method": "BREW"})).is_err());
    }

    #[test]
    fn control_characters_are_refused_in_header_values_and_urls_but_tab_is_a_legal_value() {
        for value in ["a\u{1}b", "a\u{7f}", "a\u{0}"] {
            let payload = json!({"url": "http://x.test", "headers": {"X": value}});
            assert!(check(&payload).is_err(), "{value:?}");
        }
        let tab = json!({"url": "http://x.test", "headers": {"X": "a\tb"}});
        assert!(check(&tab).is_ok());
        for url in [
            "http://x.te\tst/",
            " http://x.test",
            "http://x.test/\n",
            "http://x.test/\u{85}",
        ] {
            let err = check(&json!({"url": url})).expect_err(url);
            assert!(err.to_string().starts_with("url:"), "{err}");
        }
    }
}

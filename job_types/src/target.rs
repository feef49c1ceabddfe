//! HTTP targets: the handler of a tenant-defined job type that hands each
//! job to the tenant's own endpoint. The request is the contract a team
//! implements:
//!
//! - the configured method (POST by default) to the URL, with
//!   `content-type: application/json` and the body
//!   `{"job": {"id", "type", "payload", "attempt", "max_attempts", "created_at"}}`;
//! - `Jobs-Job-Id`, `Jobs-Attempt` and `Idempotency-Key: <job id>`, so the
//!   target can make its effect once-only across retries;
//! - the configured headers, which may not set any of those, nor `authorization`
//!   when the auth is `oidc`;
//! - `Authorization: Bearer <Google-signed ID token>` with `oidc` auth, or
//!   `Jobs-Signature` (see [`crate::signature`]) with `hmac` auth;
//! - `traceparent` (W3C trace context) naming the job's trace, when the
//!   worker traces, over a configured one.
//!
//! 2xx succeeds (a JSON body up to [`RESULT_BODY_LIMIT`] is the result; any
//! other body leaves a note); 408, 429, 5xx, timeouts and connection errors
//! are retryable, with the target's `Retry-After` reported; other statuses
//! are permanent. Redirects are not followed: the target is the URL
//! configured, and a redirect would carry the job and its credentials elsewhere.

use crate::http::{
    CONNECT_TIMEOUT, METHODS, RESULT_BODY_LIMIT, failure, is_header_name, is_header_value_byte,
    outbound_span, read_prefix_bytes, sensitive_headers, status_error, url_as_written,
};
use crate::http_guard::{PublicOnlyResolver, check_literal_host};
use crate::id_token::IdTokenSource;
use crate::job_type::{HandlerError, SetupError};
use crate::settings::HandlerSettings;
use crate::signature::{SIGNATURE_HEADER, sign};
use jobs_domain::Job;
use reqwest::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use reqwest::{Method, StatusCode, redirect};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

/// The job's id.
const JOB_ID_HEADER: &str = "jobs-job-id";
/// The attempt number, from 1.
const ATTEMPT_HEADER: &str = "jobs-attempt";
/// The job's id again, under the name idempotent APIs look for.
const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Header names the service may give meaning to; configured headers may not start with it.
const RESERVED_PREFIX: &str = "jobs-";
/// Headers the service sets, and framing headers whose values the HTTP
/// client must control; a configured header may not name one.
const RESERVED_HEADERS: [&str; 10] = [
    "content-type",
    IDEMPOTENCY_KEY_HEADER,
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
];

/// Where a tenant-defined job type sends its jobs, and how it proves it is the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Absolute `http` or `https` URL.
    #[serde(deserialize_with = "url_as_written")]
    #[schema(value_type = String)]
    pub url: Url,
    /// HTTP method; POST when absent.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers; they cannot replace the ones the contract sets.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How the target can tell the request comes from the service.
    #[serde(default)]
    pub auth: TargetAuth,
}

fn default_method() -> String {
    "POST".to_owned()
}

/// How a target authenticates the service's requests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", from = "AuthFields")]
pub enum TargetAuth {
    /// No credentials.
    #[default]
    None,
    /// A Google-signed ID token of the worker's service account, as `Authorization: Bearer`.
    Oidc {
        /// The token's `aud`; the target's URL when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
    /// A `Jobs-Signature` HMAC of the body under the type's own secret.
    Hmac,
}

/// What [`TargetAuth`] is read from. serde ignores extra fields next to the
/// tag of a unit variant, deny_unknown_fields or not, so `{"kind": "hmac",
/// "secret": …}` would pass silently; empty struct variants refuse it.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum AuthFields {
    None {},
    Oidc {
        #[serde(default)]
        audience: Option<String>,
    },
    Hmac {},
}

impl From<AuthFields> for TargetAuth {
    fn from(fields: AuthFields) -> Self {
        match fields {
            AuthFields::None {} => TargetAuth::None,
            AuthFields::Oidc { audience } => TargetAuth::Oidc { audience },
            AuthFields::Hmac {} => TargetAuth::Hmac,
        }
    }
}

impl TargetSpec {
    /// Checks the rules serde cannot express; the message starts with the field.
    pub fn validate(&self) -> Result<(), String> {
        if !METHODS.contains(&self.method.as_str()) {
            return Err(format!("method: must be one of {}", METHODS.join(", ")));
        }
        if !matches!(self.url.scheme(), "http" | "https") || self.url.host().is_none() {
            return Err("url: must be an absolute http or https URL".to_owned());
        }
        let mut seen = HashSet::new();
        for (name, value) in &self.headers {
            if !is_header_name(name) {
                return Err(format!("headers: `{name}` is not a valid header name"));
            }
            if !value.bytes().all(is_header_value_byte) {
                return Err(format!(
                    "headers.{name}: must not contain control characters other than tab"
                ));
            }
            let lower = name.to_ascii_lowercase();
            if lower.starts_with(RESERVED_PREFIX) || RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(format!(
                    "headers.{name}: is set by the service and cannot be configured"
                ));
            }
            if lower == AUTHORIZATION.as_str() && matches!(self.auth, TargetAuth::Oidc { .. }) {
                return Err(format!(
                    "headers.{name}: carries the ID token with oidc auth and cannot be configured"
                ));
            }
            if !seen.insert(lower) {
                return Err(format!(
                    "headers.{name}: given twice (header names are case-insensitive)"
                ));
            }
        }
        if let TargetAuth::Oidc {
            audience: Some(audience),
        } = &self.auth
        {
            if audience.is_empty() {
                return Err("auth.audience: must not be empty".to_owned());
            }
            if audience.chars().any(char::is_control) {
                return Err("auth.audience: must not contain control characters".to_owned());
            }
        }
        Ok(())
    }

    /// The `aud` of the ID token for this target.
    fn audience(&self) -> Option<&str> {
        match &self.auth {
            TargetAuth::Oidc { audience } => Some(audience.as_deref().unwrap_or(self.url.as_str())),
            TargetAuth::None | TargetAuth::Hmac => None,
        }
    }
}

/// Sends jobs to HTTP targets, with one connection pool for all of them.
#[derive(Clone)]
pub struct TargetCaller {
    client: reqwest::Client,
    tokens: Arc<dyn IdTokenSource>,
    guarded: bool,
}

impl fmt::Debug for TargetCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetCaller")
            .field("guarded", &self.guarded)
            .finish_non_exhaustive()
    }
}

impl TargetCaller {
    /// A caller that keeps to public addresses unless
    /// `HTTP_ALLOW_PRIVATE_NETWORKS` is set, and takes ID tokens from `tokens`.
    pub fn new(
        settings: &HandlerSettings,
        tokens: Arc<dyn IdTokenSource>,
    ) -> Result<Self, SetupError> {
        let guarded = !settings.http_allow_private_networks;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("jobs-worker/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirect::Policy::none());
        if guarded {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        let client = builder.build().map_err(|err| SetupError {
            job_type: "target",
            message: err.to_string(),
        })?;
        Ok(TargetCaller {
            client,
            tokens,
            guarded,
        })
    }

    /// Runs one attempt of `job` against `spec`'s target within `limit`
    /// (token fetch included). `hmac_secret` is the type's signing secret,
    /// needed when the auth is `hmac` and ignored otherwise.
    pub async fn call(
        &self,
        spec: &TargetSpec,
        hmac_secret: Option<&str>,
        job: &Job,
        limit: Duration,
    ) -> Result<Value, HandlerError> {
        self.send(spec, hmac_secret, request_body(job)?, job, limit)
            .await
    }

    /// POSTs `body` to `url` signed with `secret` (`Jobs-Signature`), with
    /// the contract's headers of `job` (the job doing the sending): a
    /// completion callback. Answers are read as a target's are.
    pub async fn post_signed(
        &self,
        url: &Url,
        secret: &str,
        body: Vec<u8>,
        job: &Job,
        limit: Duration,
    ) -> Result<Value, HandlerError> {
        let spec = TargetSpec {
            url: url.clone(),
            method: "POST".to_owned(),
            headers: BTreeMap::new(),
            auth: TargetAuth::Hmac,
        };
        self.send(&spec, Some(secret), body, job, limit).await
    }

    /// One request to `spec`'s target with `body`, within `limit`.
    async fn send(
        &self,
        spec: &TargetSpec,
        hmac_secret: Option<&str>,
        body: Vec<u8>,
        job: &Job,
        limit: Duration,
    ) -> Result<Value, HandlerError> {
        let deadline = Instant::now() + limit;
        // A spec stored under older rules is refused rather than sent.
        spec.validate()
            .map_err(|message| HandlerError::Permanent(format!("invalid target: {message}")))?;
        if self.guarded {
            check_literal_host(&spec.url)
                .map_err(|blocked| HandlerError::Permanent(blocked.to_string()))?;
        }
        let method = Method::from_bytes(spec.method.as_bytes())
            .map_err(|_| HandlerError::Permanent("method: not an HTTP method".to_owned()))?;
        let mut headers = sensitive_headers(&spec.headers)?;
        contract_headers(&mut headers, job)?;
        if let Some(audience) = spec.audience() {
            let token = tokio::time::timeout_at(deadline, self.tokens.id_token(audience))
                .await
                .map_err(|_| {
                    HandlerError::Retryable(format!("no ID token within {} s", limit.as_secs_f64()))
                })?
                .map_err(|err| HandlerError::Retryable(err.to_string()))?;
            let value = sensitive(&format!("Bearer {token}")).ok_or_else(|| {
                HandlerError::Retryable("the ID token is not a valid header value".to_owned())
            })?;
            headers.insert(AUTHORIZATION, value);
        }
        if spec.auth == TargetAuth::Hmac {
            let secret = hmac_secret.ok_or_else(|| {
                HandlerError::Permanent("the target's signing secret is missing".to_owned())
            })?;
            let signature = sign(secret, unix_now(), &body);
            let value = sensitive(&signature).ok_or_else(|| {
                HandlerError::Permanent("the signature is not a valid header value".to_owned())
            })?;
            headers.insert(HeaderName::from_static(SIGNATURE_HEADER), value);
        }
        // Only the host is logged: paths and queries often carry tokens.
        tracing::debug!(method = %method, host = spec.url.host_str().unwrap_or_default(), "calling the target");
        let span = outbound_span(&method, &spec.url, &mut headers);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let response = self
            .client
            .request(method, spec.url.clone())
            .headers(headers)
            .body(body)
            .timeout(remaining)
            .send()
            .instrument(span)
            .await
            .map_err(|err| failure(&err, limit))?;
        let status = response.status();
        if status.is_success() {
            let content_type = media_type(response.headers());
            let length = response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
            // One byte past the limit tells a body at the limit from a longer one.
            let bytes = read_prefix_bytes(response, RESULT_BODY_LIMIT + 1).await;
            return Ok(result(status, content_type.as_deref(), length, &bytes));
        }
        let after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| retry_after(value, SystemTime::now()));
        Err(match (status_error(status), after) {
            (HandlerError::Retryable(error), Some(after)) if !after.is_zero() => {
                HandlerError::RetryableAfter {
                    error: format!(
                        "{error}; it asks to wait {} s before a retry",
                        after.as_secs()
                    ),
                    after,
                }
            }
            (err, _) => err,
        })
    }
}

/// The body every target receives.
fn request_body(job: &Job) -> Result<Vec<u8>, HandlerError> {
    let body = json!({
        "job": {
            "id": job.id,
            "type": job.job_type,
            "payload": job.payload,
            "attempt": job.attempts,
            "max_attempts": job.max_attempts,
            "created_at": job.created_at,
        }
    });
    serde_json::to_vec(&body)
        .map_err(|err| HandlerError::Permanent(format!("the job cannot be serialised: {err}")))
}

/// Sets the headers of the contract, over any configured one of the same name.
fn contract_headers(headers: &mut HeaderMap, job: &Job) -> Result<(), HandlerError> {
    let id = HeaderValue::from_str(&job.id.to_string())
        .map_err(|_| HandlerError::Permanent("the job id is not a header value".to_owned()))?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(HeaderName::from_static(JOB_ID_HEADER), id.clone());
    headers.insert(HeaderName::from_static(IDEMPOTENCY_KEY_HEADER), id);
    headers.insert(
        HeaderName::from_static(ATTEMPT_HEADER),
        HeaderValue::from(job.attempts),
    );
    Ok(())
}

/// A header value that debug output never shows.
fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The response's media type, lowercase and without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next()?.trim().to_ascii_lowercase();
    (!media_type.is_empty()).then_some(media_type)
}

/// Whether a body of this media type (or of none) may be read as JSON.
fn is_json(media_type: Option<&str>) -> bool {
    media_type
        .is_none_or(|media_type| media_type == "application/json" || media_type.ends_with("+json"))
}

/// The job's result from a 2xx response: the JSON body itself when it is
/// JSON within the limit; otherwise the status and a note on what came.
fn result(
    status: StatusCode,
    media_type: Option<&str>,
    length: Option<u64>,
    bytes: &[u8],
) -> Value {
    if bytes.is_empty() {
        return json!({"status": status.as_u16()});
    }
    let shown_type = media_type.unwrap_or("no content type");
    let limit_kib = RESULT_BODY_LIMIT / 1024;
    let note = if bytes.len() > RESULT_BODY_LIMIT {
        match length {
            Some(length) => {
                format!("the response was over {limit_kib} KiB ({shown_type}, {length} bytes)")
            }
            None => format!("the response was over {limit_kib} KiB ({shown_type})"),
        }
    } else if let Some(value) = is_json(media_type)
        .then(|| serde_json::from_slice::<Value>(bytes).ok())
        .flatten()
    {
        return value;
    } else {
        format!(
            "the response was not JSON ({shown_type}, {} bytes)",
            bytes.len()
        )
    };
    json!({"status": status.as_u16(), "note": note})
}

/// A `Retry-After` value as a delay from `now`: delay-seconds or an HTTP
/// date (RFC 9110 §10.2.3); a date already past is no delay.
fn retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is "a very long time", not garbage.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: Value) -> Result<TargetSpec, String> {
        let spec: TargetSpec = serde_json::from_value(value).map_err(|err| err.to_string())?;
        spec.validate()?;
        Ok(spec)
    }

    #[test]
    fn the_documented_target_parses_with_its_defaults() {
        let parsed = spec(json!({
            "url": "https://hooks.example.com/welcome",
            "method": "POST",
            "headers": {"x-team": "growth"},
            "auth": {"kind": "oidc", "audience": "https://hooks.example.com"}
        }));
        let parsed = parsed.expect("valid");
        assert_eq!(
            parsed.auth,
            TargetAuth::Oidc {
                audience: Some("https://hooks.example.com".to_owned())
            }
        );
        let minimal = spec(json!({"url": "https://hooks.example.com/welcome"})).expect("valid");
        assert_eq!(minimal.method, "POST");
        assert_eq!(minimal.auth, TargetAuth::None);
        assert!(minimal.headers.is_empty());
        for (auth, expected) in [
            (json!({"kind": "none"}), TargetAuth::None),
            (json!({"kind": "hmac"}), TargetAuth::Hmac),
            (json!({"kind": "oidc"}), TargetAuth::Oidc { audience: None }),
        ] {
            let parsed = spec(json!({"url": "https://h.example", "auth": auth})).expect("valid");
            assert_eq!(parsed.auth, expected);
        }
    }

    #[test]
    fn a_spec_serialises_back_to_the_same_json() {
        let value = json!({
            "url": "https://hooks.example.com/welcome",
            "method": "PUT",
            "headers": {"x-team": "growth"},
            "auth": {"kind": "oidc"}
        });
        let parsed = spec(value.clone()).expect("valid");
        assert_eq!(serde_json::to_value(&parsed).ok(), Some(value));
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        for refused in [
            json!({"url": "https://h.example", "body": "x"}),
            json!({"url": "https://h.example", "auth": {"kind": "basic"}}),
            json!({"url": "https://h.example", "auth": {"kind": "hmac", "secret": "s"}}),
            json!({"url": "https://h.example", "auth": {"kind": "oidc", "aud": "x"}}),
            json!({"url": "https://h.example", "auth": {"kind": "none", "audience": "x"}}),
            json!({"url": "https://h.example", "auth": {}}),
        ] {
            assert!(spec(refused.clone()).is_err(), "{refused}");
        }
    }

    #[test]
    fn validation_names_the_field_at_fault() {
        for (refused, field) in [
            (json!({"url": "ftp://h.example/"}), "url:"),
            (
                json!({"url": "https://h.example", "method": "BREW"}),
                "method:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"x y": "1"}}),
                "headers:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"x": "a\nb"}}),
                "headers.x:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"Content-Type": "text/plain"}}),
                "headers.Content-Type:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"Idempotency-Key": "k"}}),
                "headers.Idempotency-Key:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"Jobs-Signature": "t=1"}}),
                "headers.Jobs-Signature:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"jobs-job-id": "1"}}),
                "headers.jobs-job-id:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"Jobs-Attempt": "1"}}),
                "headers.Jobs-Attempt:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"Host": "other"}}),
                "headers.Host:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"X-A": "1", "x-a": "2"}}),
                "headers.x-a:",
            ),
            (
                json!({"url": "https://h.example", "headers": {"Authorization": "Bearer x"}, "auth": {"kind": "oidc"}}),
                "headers.Authorization:",
            ),
            (
                json!({"url": "https://h.example", "auth": {"kind": "oidc", "audience": ""}}),
                "auth.audience:",
            ),
        ] {
            let err = spec(refused.clone()).expect_err("refused");
            assert!(err.starts_with(field), "{refused}: {err}");
        }
    }

    #[test]
    fn authorization_may_be_configured_when_the_auth_is_not_oidc() {
        for auth in [json!({"kind": "none"}), json!({"kind": "hmac"})] {
            let value = json!({"url": "https://h.example", "headers": {"Authorization": "Bearer x"}, "auth": auth});
            assert!(spec(value).is_ok());
        }
    }

    #[test]
    fn the_audience_is_the_configured_one_or_the_url() {
        let configured = spec(
            json!({"url": "https://h.example/a?b=1", "auth": {"kind": "oidc", "audience": "aud"}}),
        );
        assert_eq!(configured.expect("valid").audience(), Some("aud"));
        let default = spec(json!({"url": "https://h.example/a?b=1", "auth": {"kind": "oidc"}}));
        assert_eq!(
            default.expect("valid").audience(),
            Some("https://h.example/a?b=1")
        );
        let none = spec(json!({"url": "https://h.example", "auth": {"kind": "hmac"}}));
        assert_eq!(none.expect("valid").audience(), None);
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let read = |value: &str| retry_after(&HeaderValue::from_str(value).expect("value"), now);
        assert_eq!(read("7"), Some(Duration::from_secs(7)));
        assert_eq!(read(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(read("0"), Some(Duration::ZERO));
        assert_eq!(
            read("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            read("Sun, 06 Nov 1994 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        // RFC 850 and asctime forms, which recipients must accept too.
        assert_eq!(
            read("Sunday, 06-Nov-94 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            read("Sun Nov  6 08:50:07 1994"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(read("Sun, 06 Nov 1994 08:00:00 GMT"), Some(Duration::ZERO));
        for garbage in ["", "-1", "1.5", "soon", "7 s"] {
            assert_eq!(read(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_json_body_is_the_result_and_anything_else_a_note() {
        let ok = StatusCode::OK;
        assert_eq!(
            result(ok, Some("application/json"), None, br#"{"a":1}"#),
            json!({"a": 1})
        );
        assert_eq!(result(ok, None, None, b"[1]"), json!([1]));
        assert_eq!(
            result(ok, Some("application/problem+json"), None, b"{}"),
            json!({})
        );
        assert_eq!(
            result(ok, Some("text/html"), None, b"<p>hi</p>"),
            json!({"status": 200, "note": "the response was not JSON (text/html, 9 bytes)"})
        );
        assert_eq!(
            result(ok, Some("text/plain"), None, b"123"),
            json!({"status": 200, "note": "the response was not JSON (text/plain, 3 bytes)"})
        );
        assert_eq!(
            result(ok, Some("application/json"), None, b"{broken"),
            json!({"status": 200, "note": "the response was not JSON (application/json, 7 bytes)"})
        );
        assert_eq!(
            result(StatusCode::NO_CONTENT, None, None, b""),
            json!({"status": 204})
        );
        let big = vec![b' '; RESULT_BODY_LIMIT + 1];
        assert_eq!(
            result(ok, Some("application/json"), Some(70_000), &big),
            json!({"status": 200, "note": "the response was over 64 KiB (application/json, 70000 bytes)"})
        );
        assert_eq!(
            result(ok, None, None, &big),
            json!({"status": 200, "note": "the response was over 64 KiB (no content type)"})
        );
    }
}

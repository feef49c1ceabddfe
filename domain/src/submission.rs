//! A client's job request and the rules that turn it into a [`NewJob`].

use crate::job::{Idempotency, NewJob};
use crate::payload_check::{PayloadCheck, PayloadError};
use chrono::{DateTime, Duration, Utc};
use schema::{NO_CONTROL_PATTERN, NO_NUL_PATTERN, integer, nullable, text};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, Discriminator, KnownFormat,
    ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
};
use utoipa::openapi::{Ref, RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// The body of `POST /v1/jobs`. Its OpenAPI schema is written out below
/// ([`submission_schemas`]) because it depends on `type` and on the limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSubmission {
    /// A registered job type: `http`, `email`, `noop` or `sleep`.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The job's input, checked against the type's schema.
    pub payload: Value,
    /// Makes the submit safe to repeat: the same key and body return the original job.
    pub idempotency_key: Option<String>,
    /// Claims allowed before a retryable error becomes final.
    pub max_attempts: Option<i32>,
    /// Earliest time to run (RFC 3339); exclusive with `delay_seconds`.
    pub run_at: Option<DateTime<Utc>>,
    /// Seconds from now before the job may run; exclusive with `run_at`.
    pub delay_seconds: Option<i64>,
    /// Longest a single attempt may run.
    pub timeout_seconds: Option<i32>,
    /// An http or https URL the finished job is POSTed to, signed with the
    /// tenant's callback secret; the job type's default when absent.
    pub callback_url: Option<String>,
}

/// The bounds a submission is checked against, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmissionLimits {
    /// `max_attempts` when the client gives none.
    pub default_max_attempts: i32,
    /// Highest `max_attempts` a client may ask for.
    pub max_max_attempts: i32,
    /// `timeout_seconds` when the client gives none.
    pub default_timeout_seconds: i32,
    /// Highest `timeout_seconds`: a push must finish inside Pub/Sub's ack deadline.
    pub max_timeout_seconds: i32,
    /// Furthest into the future a job may be scheduled, in seconds.
    pub max_delay_seconds: i64,
}

impl Default for SubmissionLimits {
    fn default() -> Self {
        SubmissionLimits {
            default_max_attempts: 5,
            max_max_attempts: 100,
            default_timeout_seconds: 60,
            max_timeout_seconds: 540,
            max_delay_seconds: 30 * 24 * 3600,
        }
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the request body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error from its parts.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The earliest `run_at` accepted. Anything before is surely a mistake, and the
/// bound keeps far inside PostgreSQL's range (4713 BC), which chrono's exceeds.
pub const EARLIEST_RUN_AT: DateTime<Utc> = DateTime::UNIX_EPOCH;

impl JobSubmission {
    /// Checks every field and returns the job to store, or every field error at once.
    ///
    /// `header_key` is the `Idempotency-Key` header; it must agree with the
    /// body's key. `types` says which job types exist and what they accept.
    pub fn validate(
        self,
        header_key: Option<String>,
        limits: &SubmissionLimits,
        types: &dyn PayloadCheck,
        now: DateTime<Utc>,
    ) -> Result<NewJob, Vec<FieldError>> {
        let mut errors = Vec::new();

        // PostgreSQL's jsonb cannot store NUL, so refuse it here rather than fail at the insert.
        if contains_nul(&self.payload) {
            errors.push(FieldError::new(
                "payload",
                "strings and keys must not contain NUL characters",
            ));
        }
        // serde would read a payload struct from an array as well; only objects are payloads.
        let is_object = self.payload.is_object();
        match types.check(&self.job_type, &self.payload) {
            Err(err @ PayloadError::UnknownType { .. }) => {
                errors.push(FieldError::new("type", err.to_string()))
            }
            _ if !is_object => errors.push(FieldError::new("payload", "must be a JSON object")),
            Err(PayloadError::Invalid(message)) => errors.push(FieldError::new("payload", message)),
            Err(PayloadError::Fields(violations)) => errors.extend(violations),
            Ok(()) => {}
        }

        let max_attempts = self.max_attempts.unwrap_or(limits.default_max_attempts);
        if !(1..=limits.max_max_attempts).contains(&max_attempts) {
            errors.push(FieldError::new(
                "max_attempts",
                format!("must be between 1 and {}", limits.max_max_attempts),
            ));
        }

        let timeout_seconds = self
            .timeout_seconds
            .unwrap_or(limits.default_timeout_seconds);
        if !(1..=limits.max_timeout_seconds).contains(&timeout_seconds) {
            errors.push(FieldError::new(
                "timeout_seconds",
                format!("must be between 1 and {}", limits.max_timeout_seconds),
            ));
        }

        let run_at = match (self.run_at, self.delay_seconds) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "delay_seconds",
                    "give either run_at or delay_seconds, not both",
                ));
                None
            }
            (Some(at), None) => {
                if at < EARLIEST_RUN_AT || at > now + Duration::seconds(limits.max_delay_seconds) {
                    errors.push(FieldError::new(
                        "run_at",
                        format!(
                            "must be from {} to {} seconds from now",
                            EARLIEST_RUN_AT.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            limits.max_delay_seconds
                        ),
                    ));
                }
                Some(at)
            }
            (None, Some(delay)) => {
                if !(0..=limits.max_delay_seconds).contains(&delay) {
                    errors.push(FieldError::new(
                        "delay_seconds",
                        format!("must be between 0 and {}", limits.max_delay_seconds),
                    ));
                    None
                } else {
                    Some(now + Duration::seconds(delay))
                }
            }
            (None, None) => None,
        };

        let key = match (header_key, self.idempotency_key.clone()) {
            (Some(header), Some(body)) if header != body => {
                errors.push(FieldError::new(
                    "idempotency_key",
                    "differs from the Idempotency-Key header",
                ));
                None
            }
            (header, body) => header.or(body),
        };
        // Characters, not bytes, as the column's `length()` check counts them.
        if let Some(key) = &key
            && (key.is_empty()
                || key.chars().count() > MAX_IDEMPOTENCY_KEY_LEN
                || key.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "idempotency_key",
                format!(
                    "must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters with no control characters"
                ),
            ));
        }

        if let Some(url) = &self.callback_url
            && let Err(message) = check_callback_url(url)
        {
            errors.push(FieldError::new("callback_url", message));
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let idempotency = key.map(|key| Idempotency {
            request_hash: self.fingerprint(),
            key,
        });
        Ok(NewJob {
            job_type: self.job_type,
            payload: self.payload,
            max_attempts,
            timeout_seconds,
            run_at,
            idempotency,
            callback_url: self.callback_url,
            concurrency_key: None,
        })
    }

    /// SHA-256 of the request as the client sent it (less the key), in a
    /// canonical form, so key order and whitespace do not make a conflict.
    fn fingerprint(&self) -> Vec<u8> {
        let mut hasher = Sha256::new();
        let canonical = serde_json::json!({
            "type": self.job_type,
            "payload": self.payload,
            "max_attempts": self.max_attempts,
            "run_at": self.run_at,
            "delay_seconds": self.delay_seconds,
            "timeout_seconds": self.timeout_seconds,
        });
        let mut canonical = canonical;
        // Only when given, so keys stored before callbacks existed still replay.
        if let (Some(url), Some(fields)) = (&self.callback_url, canonical.as_object_mut()) {
            fields.insert("callback_url".to_owned(), Value::String(url.clone()));
        }
        write_canonical(&canonical, &mut hasher);
        hasher.finalize().to_vec()
    }
}

/// The longest callback URL accepted.
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;

/// Checks a callback URL: absolute http or https with a host, at most
/// [`MAX_CALLBACK_URL_BYTES`], nothing a URL parser would have to repair.
pub fn check_callback_url(url: &str) -> Result<(), String> {
    let message = "must be an absolute http or https URL of at most 2048 bytes";
    if url.len() > MAX_CALLBACK_URL_BYTES
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(message.to_owned());
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(())
        }
        _ => Err(message.to_owned()),
    }
}

/// One job type's payload schema, for the OpenAPI document.
#[derive(Clone)]
pub struct PayloadSchema {
    /// The job type.
    pub job_type: &'static str,
    /// The component name of the payload's schema, e.g. `HttpPayload`.
    pub component: String,
    /// The payload's schema.
    pub schema: RefOr<Schema>,
}

/// The component name of the submission schema for one job type: `HttpJobSubmission`.
fn variant_name(payload: &str) -> String {
    format!("{}JobSubmission", payload.trim_end_matches("Payload"))
}

/// The OpenAPI components behind [`JobSubmission`] for these limits and
/// these job types: `JobSubmission` itself (one of the types, by `type`),
/// one schema per job type with its payload's, and the payloads', so the
/// document refuses exactly what [`JobSubmission::validate`] refuses.
pub fn submission_schemas(
    limits: &SubmissionLimits,
    payloads: &[PayloadSchema],
) -> Vec<(String, RefOr<Schema>)> {
    let mut discriminator = Discriminator::new("type");
    let mut one_of = OneOfBuilder::new().description(Some(
        "The body of `POST /v1/jobs`: a `type` and the payload that type takes, \
         plus options.",
    ));
    let mut schemas = Vec::with_capacity(2 * payloads.len() + 2);
    for payload in payloads {
        let name = variant_name(&payload.component);
        discriminator.mapping.insert(
            payload.job_type.to_owned(),
            format!("#/components/schemas/{name}"),
        );
        one_of = one_of.item(Ref::from_schema_name(name.clone()));
        schemas.push((name, variant(payload.job_type, &payload.component, limits)));
        schemas.push((payload.component.clone(), payload.schema.clone()));
    }
    schemas.push((
        "JobSubmission".to_owned(),
        one_of.discriminator(Some(discriminator)).into(),
    ));
    schemas.push(("PayloadValue".to_owned(), payload_value()));
    schemas
}

/// The fields every job of one type has, as a submit and a schedule's
/// template state them: its `type`, its payload, `max_attempts` and
/// `timeout_seconds` within the limits; nothing else unless added.
pub fn job_fields(job_type: &str, payload: &str, limits: &SubmissionLimits) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([job_type]))
                .description(Some("The job type.")),
        )
        .property("payload", Ref::from_schema_name(payload))
        .property(
            "max_attempts",
            nullable(integer(
                1,
                limits.max_max_attempts,
                &format!(
                    "Claims allowed before a retryable error becomes final (default {}).",
                    limits.default_max_attempts
                ),
            )),
        )
        .property(
            "timeout_seconds",
            nullable(integer(
                1,
                limits.max_timeout_seconds,
                &format!(
                    "Longest a single attempt may run (default {}).",
                    limits.default_timeout_seconds
                ),
            )),
        )
        .required("type")
        .required("payload")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

/// The submission of one job type: its `type`, its payload, the options.
fn variant(job_type: &str, payload: &str, limits: &SubmissionLimits) -> RefOr<Schema> {
    let fields = job_fields(job_type, payload, limits)
        .property(
            "idempotency_key",
            nullable(
                text(
                    NO_CONTROL_PATTERN,
                    "Makes the submit safe to repeat: the same key and body return the \
                     original job. Must equal the Idempotency-Key header when both are given.",
                )
                .min_length(Some(1))
                .max_length(Some(MAX_IDEMPOTENCY_KEY_LEN)),
            ),
        )
        .property(
            "callback_url",
            nullable(
                text(
                    schema::URL_PATTERN,
                    "POSTed the finished job when it ends, signed with the tenant's \
                     callback secret (create it with POST /v1/callback-secret first). \
                     The job type's default when absent.",
                )
                .max_length(Some(MAX_CALLBACK_URL_BYTES)),
            ),
        )
        .property(
            "run_at",
            nullable(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .description(Some(format!(
                        "Earliest time to run (RFC 3339), from {} to {} seconds from now; \
                         exclusive with `delay_seconds`.",
                        EARLIEST_RUN_AT.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        limits.max_delay_seconds
                    ))),
            ),
        )
        .property(
            "delay_seconds",
            nullable(integer(
                0,
                limits.max_delay_seconds,
                "Seconds from now before the job may run; exclusive with `run_at`.",
            )),
        );
    // Not both `run_at` and `delay_seconds`: at least one is absent or null.
    let one_start = AnyOfBuilder::new()
        .item(ObjectBuilder::new().property("run_at", ObjectBuilder::new().schema_type(Type::Null)))
        .item(ObjectBuilder::new().property(
            "delay_seconds",
            ObjectBuilder::new().schema_type(Type::Null),
        ));
    AllOfBuilder::new()
        .item(fields)
        .item(one_start)
        .description(Some(format!("A job of type `{job_type}`.")))
        .into()
}

/// Any JSON value a payload may hold: no NUL in text (jsonb cannot store it)
/// and numbers within 64-bit integers (larger ones would lose precision).
fn payload_value() -> RefOr<Schema> {
    let numbers = ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(i64::MIN))
        .maximum(Some(u64::MAX));
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(numbers)
        .item(text(NO_NUL_PATTERN, ""))
        .item(ArrayBuilder::new().items(Ref::from_schema_name("PayloadValue")))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property_names(Some(text(NO_NUL_PATTERN, "")))
                .additional_properties(Some(Ref::from_schema_name("PayloadValue"))),
        )
        .description(Some(
            "Any JSON value with no NUL in strings or keys and numbers from \
             -9223372036854775808 to 18446744073709551615.",
        ))
        .into()
}

/// A stand-in: the schema depends on the job types and the limits, so each
/// server's document puts [`submission_schemas`] in its components instead.
impl PartialSchema for JobSubmission {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .required("type")
            .required("payload")
            .into()
    }
}

impl ToSchema for JobSubmission {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobSubmission")
    }
}

/// JSON Schema building blocks shared by the submission and payload schemas.
pub mod schema {
    use utoipa::openapi::Type;
    use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType};

    /// Text PostgreSQL can store: anything but NUL.
    pub const NO_NUL_PATTERN: &str = r"^[^\x00]*$";
    /// One line of text: no control character (`char::is_control`), NUL included.
    pub const NO_CONTROL_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

    /// A conservative form of the http(s) URLs the service accepts, for the
    /// OpenAPI document: every string it matches is accepted, and most real
    /// URLs match. Lowercase host labels, the last starting with a letter (so
    /// it is never read as an IPv4 address), an optional port and path,
    /// query, fragment.
    pub const URL_PATTERN: &str = concat!(
        r"^https?://([a-z0-9]+\.)*[a-z][a-z0-9]*(:[0-9]{1,4})?",
        r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*",
        r"(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?(#[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
    );

    /// A string matching `pattern`.
    pub fn text(pattern: &str, description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .description((!description.is_empty()).then_some(description))
    }

    /// An integer from `min` to `max`.
    pub fn integer(min: impl Into<i64>, max: impl Into<i64>, description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(min.into()))
            .maximum(Some(max.into()))
            .description(Some(description))
    }

    /// The same schema, also allowing `null` (what serde reads as `None`).
    pub fn nullable(builder: ObjectBuilder) -> Object {
        let mut object = builder.build();
        if let SchemaType::Type(single) = object.schema_type {
            object.schema_type = SchemaType::Array(vec![single, Type::Null]);
        }
        object
    }
}

fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Writes JSON with object keys sorted, whatever map order serde_json was built with.
fn write_canonical(value: &Value, hasher: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                write_canonical(&map[key], hasher);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(item, hasher);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submission(body: Value) -> JobSubmission {
        serde_json::from_value(body).expect("test body is a valid submission")
    }

    /// A catalogue of one type, `noop`, that accepts any object.
    struct NoopOnly;

    impl PayloadCheck for NoopOnly {
        fn check(&self, job_type: &str, payload: &Value) -> Result<(), PayloadError> {
            match job_type {
                "noop" if payload.is_object() => Ok(()),
                "noop" => Err(PayloadError::Invalid("expected an object".into())),
                _ => Err(PayloadError::UnknownType {
                    name: job_type.into(),
                    known: "noop".into(),
                }),
            }
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid timestamp")
    }

    #[test]
    fn defaults_fill_missing_options() {
        let job = submission(json!({"type": "noop", "payload": {}}))
            .validate(None, &SubmissionLimits::default(), &NoopOnly, now())
            .expect("valid");
        assert_eq!(job.max_attempts, 5);
        assert_eq!(job.timeout_seconds, 60);
        assert_eq!(job.run_at, None);
        assert_eq!(job.idempotency, None);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = submission(json!({
            "type": "noop", "payload": {}, "max_attempts": 0,
            "timeout_seconds": 100000, "run_at": "2030-01-01T00:00:00Z", "delay_seconds": 5
        }))
        .validate(None, &SubmissionLimits::default(), &NoopOnly, now())
        .expect_err("must be refused");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["max_attempts", "timeout_seconds", "delay_seconds"]);
    }

    #[test]
    fn delay_seconds_sets_run_at_from_now() {
        let job = submission(json!({"type": "noop", "payload": {}, "delay_seconds": 30}))
            .validate(None, &SubmissionLimits::default(), &NoopOnly, now())
            .expect("valid");
        assert_eq!(job.run_at, Some(now() + Duration::seconds(30)));
    }

    #[test]
    fn nul_anywhere_in_the_payload_is_refused() {
        for payload in [
            json!({"a": "x\0y"}),
            json!({"k\0": 1}),
            json!({"a": [["\0"]]}),
        ] {
            let errors = submission(json!({"type": "noop", "payload": payload}))
                .validate(None, &SubmissionLimits::default(), &NoopOnly, now())
                .expect_err("must be refused");
            assert_eq!(errors[0].field, "payload");
        }
    }

    #[test]
    fn run_at_is_refused_before_the_unix_epoch_and_past_the_maximum_delay() {
        let limits = SubmissionLimits::default();
        let too_late = now() + Duration::seconds(limits.max_delay_seconds + 1);
        for run_at in [EARLIEST_RUN_AT - Duration::seconds(1), too_late] {
            let errors = submission(json!({"type": "noop", "payload": {}, "run_at": run_at}))
                .validate(None, &limits, &NoopOnly, now())
                .expect_err("must be refused");
            assert_eq!(errors[0].field, "run_at");
        }
        let job = submission(json!({"type": "noop", "payload": {}, "run_at": EARLIEST_RUN_AT}))
            .validate(None, &limits, &NoopOnly, now())
            .expect("the epoch itself is accepted");
        assert_eq!(job.run_at, Some(EARLIEST_RUN_AT));
    }

    #[test]
    fn a_payload_must_be_an_object_even_where_serde_reads_an_array() {
        for (job_type, payload) in [("noop", json!([5])), ("noop", json!(null))] {
            let errors = submission(json!({"type": job_type, "payload": payload}))
                .validate(None, &SubmissionLimits::default(), &NoopOnly, now())
                .expect_err("must be refused");
            assert_eq!(
                errors[0],
                FieldError::new("payload", "must be a JSON object")
            );
        }
    }

    #[test]
    fn header_and_body_keys_must_agree() {
        let errors = submission(json!({"type": "noop", "payload": {}, "idempotency_key": "a"}))
            .validate(
                Some("b".into()),
                &SubmissionLimits::default(),
                &NoopOnly,
                now(),
            )
            .expect_err("must be refused");
        assert_eq!(errors[0].field, "idempotency_key");
    }

    #[test]
    fn fingerprint_ignores_key_order_but_not_values() {
        let a = submission(json!({"type": "noop", "payload": {"x": 1, "y": 2}}));
        let b = submission(json!({"payload": {"y": 2, "x": 1}, "type": "noop"}));
        let c = submission(json!({"type": "noop", "payload": {"x": 1, "y": 3}}));
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}

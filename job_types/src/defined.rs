//! Job types a tenant defines over the API: a name, a handler (one of the
//! built-ins, under the type's own name and policies), a JSON Schema for the
//! payload, defaults for attempts and timeout, and a retry schedule.

use crate::BUILTIN;
use crate::registry::Builtin;
use crate::target::{TargetAuth, TargetSpec};
use jobs_domain::payload_key::key_value;
use jobs_domain::{
    ConcurrencyLimit, FieldError, PayloadCheck, PayloadError, PayloadKey, RateLimit,
    RetentionOverride, RetryStrategy, SubmissionLimits,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// The longest name a job type may have.
pub const MAX_NAME_CHARS: usize = 100;

/// The body of `PUT /v1/job-types/{name}`, as stored. Its OpenAPI schema is
/// written out ([`definition_schema`]) because it depends on the limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTypeDefinition {
    /// What runs a job of this type.
    pub handler: HandlerSpec,
    /// A JSON Schema (2020-12) every payload must satisfy, checked at submit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_schema: Option<Value>,
    /// `max_attempts` of this type's jobs; a submit may lower it, not raise it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// `timeout_seconds` of this type's jobs; a submit may lower it, not raise it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// How a retryable failure is retried.
    #[serde(default)]
    pub retry: RetryStrategy,
    /// How long the type's finished jobs are kept, over the service's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionOverride>,
    /// At most so many accepted jobs per key value in a sliding window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// At most so many running jobs per key value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyLimit>,
    /// The `callback_url` of its jobs that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

/// What runs a tenant's job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HandlerSpec {
    /// A built-in handler (`email`, `http`, `noop`, `sleep`) under this type's name and policies.
    Builtin(String),
    /// The team's own HTTP endpoint, called as the README's target contract says.
    Target(TargetSpec),
}

/// The checked handler of a defined type.
#[derive(Debug)]
pub enum DefinedHandler {
    /// A built-in handler.
    Builtin(&'static Builtin),
    /// An HTTP target.
    Target(TargetSpec),
}

/// A definition checked and ready to validate payloads.
pub struct DefinedType {
    /// The type's name.
    pub name: String,
    /// The definition as stored.
    pub definition: JobTypeDefinition,
    /// The HMAC secret, sealed, for a target with `hmac` auth.
    pub sealed_secret: Option<Vec<u8>>,
    handler: DefinedHandler,
    schema: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for DefinedType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefinedType")
            .field("name", &self.name)
            .field("definition", &self.definition)
            .finish_non_exhaustive()
    }
}

/// Why a name cannot be a tenant's job type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Not 1–100 characters of `[a-z0-9._-]` starting with a letter; pick another.
    #[error(
        "must be 1 to {MAX_NAME_CHARS} characters of a-z, 0-9, `.`, `_` or `-`, starting with a letter"
    )]
    Invalid,
    /// A built-in type's name, which no tenant may take.
    #[error("`{0}` is a built-in job type; pick another name")]
    Reserved(String),
}

/// Checks a name a tenant wants for a type.
pub fn check_name(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let valid = name.len() <= MAX_NAME_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !valid {
        return Err(NameError::Invalid);
    }
    if BUILTIN.iter().any(|builtin| builtin.name() == name)
        || name == jobs_domain::callback::CALLBACK_JOB_TYPE
    {
        return Err(NameError::Reserved(name.to_owned()));
    }
    Ok(())
}

impl DefinedType {
    /// Checks `definition` against `limits` and compiles its schema; every
    /// problem is reported at once, each at its field.
    /// `hmac_available` says whether the server can seal HMAC secrets
    /// (JOB_TYPE_SECRETS_KEY is set).
    pub fn new(
        name: &str,
        definition: JobTypeDefinition,
        limits: &SubmissionLimits,
        hmac_available: bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let handler = match &definition.handler {
            HandlerSpec::Builtin(handler) => {
                match BUILTIN.iter().find(|builtin| builtin.name() == handler) {
                    Some(builtin) => Some(DefinedHandler::Builtin(builtin)),
                    None => {
                        let known: Vec<&str> = BUILTIN.iter().map(Builtin::name).collect();
                        errors.push(FieldError::new(
                            "handler.builtin",
                            format!(
                                "unknown built-in handler `{handler}`; known: {}",
                                known.join(", ")
                            ),
                        ));
                        None
                    }
                }
            }
            HandlerSpec::Target(target) => {
                if let Err(message) = target.validate() {
                    let (field, message) = message.split_once(": ").unwrap_or(("", &message));
                    let field = if field.is_empty() {
                        "handler.target".to_owned()
                    } else {
                        format!("handler.target.{field}")
                    };
                    errors.push(FieldError::new(field, message));
                }
                if target.auth == TargetAuth::Hmac && !hmac_available {
                    errors.push(FieldError::new(
                        "handler.target.auth",
                        "hmac is not available: the server has no JOB_TYPE_SECRETS_KEY",
                    ));
                }
                Some(DefinedHandler::Target(target.clone()))
            }
        };
        let schema = match &definition.payload_schema {
            None => None,
            Some(schema) => match jsonschema::draft202012::new(schema) {
                Ok(validator) => Some(validator),
                Err(err) => {
                    errors.push(FieldError::new(
                        "payload_schema",
                        format!("not a valid JSON Schema (2020-12): {err}"),
                    ));
                    None
                }
            },
        };
        if let Some(max_attempts) = definition.max_attempts
            && !(1..=limits.max_max_attempts).contains(&max_attempts)
        {
            errors.push(FieldError::new(
                "max_attempts",
                format!("must be between 1 and {}", limits.max_max_attempts),
            ));
        }
        if let Some(timeout) = definition.timeout_seconds
            && !(1..=limits.max_timeout_seconds).contains(&timeout)
        {
            errors.push(FieldError::new(
                "timeout_seconds",
                format!("must be between 1 and {}", limits.max_timeout_seconds),
            ));
        }
        let checks = [
            definition.retry.validate(),
            definition
                .rate_limit
                .as_ref()
                .map_or(Ok(()), RateLimit::validate),
            definition
                .concurrency
                .as_ref()
                .map_or(Ok(()), ConcurrencyLimit::validate),
        ];
        if let Some(url) = &definition.callback_url
            && let Err(message) = jobs_domain::submission::check_callback_url(url)
        {
            errors.push(FieldError::new("callback_url", message));
        }
        for message in checks.into_iter().filter_map(Result::err) {
            let (field, message) = message.split_once(": ").unwrap_or(("", &message));
            errors.push(FieldError::new(field, message));
        }
        match handler {
            Some(handler) if errors.is_empty() => Ok(DefinedType {
                name: name.to_owned(),
                definition,
                sealed_secret: None,
                handler,
                schema,
            }),
            _ => Err(errors),
        }
    }

    /// The same type with its stored HMAC secret.
    pub fn with_sealed_secret(self, sealed_secret: Option<Vec<u8>>) -> Self {
        DefinedType {
            sealed_secret,
            ..self
        }
    }

    /// What runs this type's jobs.
    pub fn handler(&self) -> &DefinedHandler {
        &self.handler
    }

    /// The submission bounds for this type: its own defaults, which a submit
    /// may lower, not raise.
    pub fn limits(&self, limits: &SubmissionLimits) -> SubmissionLimits {
        let max_attempts = self
            .definition
            .max_attempts
            .unwrap_or(limits.default_max_attempts);
        let timeout = self
            .definition
            .timeout_seconds
            .unwrap_or(limits.default_timeout_seconds);
        SubmissionLimits {
            default_max_attempts: max_attempts,
            max_max_attempts: self
                .definition
                .max_attempts
                .unwrap_or(limits.max_max_attempts),
            default_timeout_seconds: timeout,
            max_timeout_seconds: self
                .definition
                .timeout_seconds
                .unwrap_or(limits.max_timeout_seconds),
            max_delay_seconds: limits.max_delay_seconds,
        }
    }

    /// The type's rate limit and the key value `payload` counts against, if
    /// the type has one. The payload passed [`PayloadCheck::check`], so the
    /// key value is there.
    pub fn rate_key(&self, payload: &Value) -> Option<(&RateLimit, String)> {
        let limit = self.definition.rate_limit.as_ref()?;
        let key = key_value(limit.key.as_ref(), payload).ok()?;
        Some((limit, key))
    }

    /// The type's concurrency limit and the key value of `payload`, if the
    /// type has one and the payload holds the value.
    pub fn concurrency_key(&self, payload: &Value) -> Option<(&ConcurrencyLimit, String)> {
        let limit = self.definition.concurrency.as_ref()?;
        let key = key_value(limit.key.as_ref(), payload).ok()?;
        Some((limit, key))
    }

    /// The pointers the type's limits are kept per.
    fn limit_keys(&self) -> impl Iterator<Item = &PayloadKey> {
        let rate = self
            .definition
            .rate_limit
            .as_ref()
            .and_then(|l| l.key.as_ref());
        let concurrency = self
            .definition
            .concurrency
            .as_ref()
            .and_then(|l| l.key.as_ref());
        rate.into_iter().chain(concurrency)
    }

    /// The payload as a built-in handler reads it: the fields it does not
    /// know (which the type's schema admitted) left out.
    pub fn handler_payload(builtin: &Builtin, payload: &Value) -> Value {
        match (payload, builtin.own_fields()) {
            (Value::Object(map), Some(fields)) => Value::Object(
                map.iter()
                    .filter(|(key, _)| fields.iter().any(|field| field == key.as_str()))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect::<Map<String, Value>>(),
            ),
            _ => payload.clone(),
        }
    }
}

impl PayloadCheck for DefinedType {
    fn check(&self, _job_type: &str, payload: &Value) -> Result<(), PayloadError> {
        if let Some(schema) = &self.schema {
            let violations: Vec<FieldError> = schema
                .iter_errors(payload)
                .map(|error| {
                    let mut field = String::from("payload");
                    for segment in error.instance_path().segments() {
                        match segment {
                            jsonschema::paths::LocationSegment::Property(name) => {
                                field.push('.');
                                field.push_str(&name);
                            }
                            jsonschema::paths::LocationSegment::Index(index) => {
                                field.push_str(&format!("[{index}]"));
                            }
                        }
                    }
                    // A missing property is reported at the property itself.
                    if let jsonschema::error::ValidationErrorKind::Required { property } =
                        error.kind()
                        && let Some(name) = property.as_str()
                    {
                        field.push('.');
                        field.push_str(name);
                    }
                    FieldError::new(field, error.to_string())
                })
                .collect();
            if !violations.is_empty() {
                return Err(PayloadError::Fields(violations));
            }
        }
        // Every limit needs its key value; without it the job could not be counted.
        let mut missing: Vec<FieldError> = self
            .limit_keys()
            .filter_map(|key| {
                let message = key.value_in(payload).err()?;
                Some(FieldError::new(key.field(), message))
            })
            .collect();
        missing.dedup();
        if !missing.is_empty() && payload.is_object() {
            return Err(PayloadError::Fields(missing));
        }
        match &self.handler {
            DefinedHandler::Builtin(builtin) => {
                builtin.check(&Self::handler_payload(builtin, payload))
            }
            // A target takes any object its schema admits.
            DefinedHandler::Target(_) if payload.is_object() => Ok(()),
            DefinedHandler::Target(_) => Err(PayloadError::Invalid("must be a JSON object".into())),
        }
    }
}

/// The OpenAPI schema of [`JobTypeDefinition`] for these limits, as strict as
/// [`DefinedType::new`] where JSON Schema can say it. What it cannot (a
/// payload schema that is itself valid, a delay range in order, header names
/// the service sets) is in the descriptions.
pub fn definition_schema(limits: &SubmissionLimits) -> RefOr<Schema> {
    use jobs_domain::concurrency_limit::MAX_CONCURRENCY_LIMIT;
    use jobs_domain::rate_limit::{MAX_RATE_LIMIT, MAX_RATE_PERIOD_SECONDS};
    use jobs_domain::retry_strategy::MAX_RETRY_DELAY_SECONDS;
    use jobs_domain::submission::schema::{NO_CONTROL_PATTERN, integer, nullable, text};
    let closed = |builder: ObjectBuilder| {
        builder
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let seconds = |description: &str| integer(0, MAX_RETRY_DELAY_SECONDS, description);
    let builtin = closed(ObjectBuilder::new()).property(
        "builtin",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(BUILTIN.iter().map(Builtin::name)))
            .description(Some(
                "A built-in handler, under this type's name and policies.",
            )),
    );
    let auth = OneOfBuilder::new()
        .item(
            closed(ObjectBuilder::new())
                .property("kind", tag("none"))
                .required("kind"),
        )
        .item(
            closed(ObjectBuilder::new())
                .property("kind", tag("oidc"))
                .property(
                    "audience",
                    nullable(
                        text(
                            NO_CONTROL_PATTERN,
                            "The ID token's audience; the URL when absent.",
                        )
                        .min_length(Some(1)),
                    ),
                )
                .required("kind"),
        )
        .item(
            closed(ObjectBuilder::new())
                .property("kind", tag("hmac"))
                .required("kind"),
        );
    let target = closed(ObjectBuilder::new())
        .property(
            "url",
            text(crate::http::URL_PATTERN, "Absolute http or https URL."),
        )
        .property(
            "method",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(crate::http::METHODS))
                .default(Some("POST".into())),
        )
        .property(
            "headers",
            crate::http::headers_schema().description(Some(
                "Extra request headers; not the ones the service sets (content-type, \
                     idempotency-key, jobs-*, framing headers, authorization with oidc), \
                     each name once whatever its case.",
            )),
        )
        .property("auth", auth)
        .required("url");
    let handler = OneOfBuilder::new()
        .item(builtin.required("builtin"))
        .item(
            closed(ObjectBuilder::new())
                .property("target", target)
                .required("target"),
        )
        .description(Some("What runs the type's jobs."));
    let retry = OneOfBuilder::new()
        .item(
            closed(ObjectBuilder::new())
                .property("strategy", tag("pubsub"))
                .required("strategy"),
        )
        .item(
            closed(ObjectBuilder::new())
                .property("strategy", tag("exponential"))
                .property(
                    "initial_delay_seconds",
                    seconds("The first delay; at most max_delay_seconds."),
                )
                .property("max_delay_seconds", seconds("The longest delay."))
                .property(
                    "multiplier",
                    ObjectBuilder::new()
                        .schema_type(Type::Number)
                        .minimum(Some(1))
                        .maximum(Some(10))
                        .default(Some(2.into())),
                )
                .property("jitter", ObjectBuilder::new().schema_type(Type::Boolean))
                .required("strategy")
                .required("initial_delay_seconds")
                .required("max_delay_seconds"),
        )
        .item(
            closed(ObjectBuilder::new())
                .property("strategy", tag("linear"))
                .property(
                    "initial_delay_seconds",
                    seconds("The first delay; at most max_delay_seconds."),
                )
                .property("step_seconds", seconds("What each retry adds."))
                .property("max_delay_seconds", seconds("The longest delay."))
                .required("strategy")
                .required("initial_delay_seconds")
                .required("step_seconds")
                .required("max_delay_seconds"),
        )
        .item(
            closed(ObjectBuilder::new())
                .property("strategy", tag("fixed"))
                .property("delay_seconds", seconds("The delay before every retry."))
                .required("strategy")
                .required("delay_seconds"),
        )
        .description(Some("How a retryable failure is retried (default pubsub)."));
    closed(ObjectBuilder::new())
        .property("handler", handler)
        .property(
            "payload_schema",
            nullable(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(
                        "A valid JSON Schema (2020-12) every payload must satisfy.",
                    )),
            ),
        )
        .property(
            "max_attempts",
            nullable(integer(
                1,
                limits.max_max_attempts,
                "The default and cap of its jobs' max_attempts.",
            )),
        )
        .property(
            "timeout_seconds",
            nullable(integer(
                1,
                limits.max_timeout_seconds,
                "The default and cap of its jobs' timeout_seconds.",
            )),
        )
        .property("retry", retry)
        .property(
            "retention",
            nullable(
                closed(ObjectBuilder::new())
                    .property("completed_seconds", nullable(integer(0, u32::MAX, "Seconds a completed job is kept.")))
                    .property("failed_seconds", nullable(integer(0, u32::MAX, "Seconds a failed job is kept.")))
                    .property("cancelled_seconds", nullable(integer(0, u32::MAX, "Seconds a cancelled job is kept.")))
                    .description(Some(
                        "How long the type's finished jobs are kept; what is left out keeps the default.",
                    )),
            ),
        )
        .property(
            "rate_limit",
            nullable(
                closed(ObjectBuilder::new())
                    .property("key", payload_key_schema())
                    .property(
                        "limit",
                        integer(1, MAX_RATE_LIMIT, "Jobs accepted per window and key value."),
                    )
                    .property(
                        "period_seconds",
                        integer(1, MAX_RATE_PERIOD_SECONDS, "The sliding window's length."),
                    )
                    .property(
                        "when_exceeded",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(["reject", "delay"]))
                            .default(Some("reject".into()))
                            .description(Some(
                                "reject: 429 with Retry-After, nothing stored; \
                                 delay: accepted, run_at the first moment the window has room.",
                            )),
                    )
                    .required("limit")
                    .required("period_seconds")
                    .description(Some(
                        "At most `limit` accepted jobs per key value in any `period_seconds`.",
                    )),
            ),
        )
        .property(
            "concurrency",
            nullable(
                closed(ObjectBuilder::new())
                    .property("key", payload_key_schema())
                    .property(
                        "limit",
                        integer(1, MAX_CONCURRENCY_LIMIT, "Jobs running at once per key value."),
                    )
                    .required("limit")
                    .description(Some(
                        "At most `limit` jobs per key value processing at once, across every worker.",
                    )),
            ),
        )
        .property(
            "callback_url",
            nullable(
                text(
                    crate::http::URL_PATTERN,
                    "The callback_url of the type's jobs that name none.",
                )
                .max_length(Some(jobs_domain::submission::MAX_CALLBACK_URL_BYTES)),
            ),
        )
        .required("handler")
        .description(Some("A tenant's job type."))
        .into()
}

/// A limit's `key`: a JSON pointer into the payload.
fn payload_key_schema() -> ObjectBuilder {
    use jobs_domain::payload_key::MAX_POINTER_CHARS;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^(/([^~\x00-\x1f\x7f-\x9f]|~[01])*)+$"))
        .max_length(Some(MAX_POINTER_CHARS))
        .description(Some(
            "A JSON pointer into the payload (`/user_id`) whose value the limit is kept per; \
             absent: one limit for the whole type. Payloads without it are refused.",
        ))
}

/// A tag's one value, e.g. `"kind": "hmac"`.
fn tag(name: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([name.to_owned()]))
}

impl PartialSchema for JobTypeDefinition {
    fn schema() -> RefOr<Schema> {
        definition_schema(&SubmissionLimits::default())
    }
}

impl ToSchema for JobTypeDefinition {}

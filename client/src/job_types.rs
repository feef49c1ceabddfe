//! `/v1/job-types`: the built-in job types and the tenant's own; and
//! `/v1/callback-secret`, the secret that signs the tenant's completion
//! callbacks.

use crate::{Client, Error, Saved};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A job type as the API shows it: a built-in one (only `name` and
/// `builtin`), or one of the tenant's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobType {
    /// The `type` its jobs are submitted with.
    pub name: String,
    /// True for the service's own types, which no tenant can change.
    pub builtin: bool,
    /// What runs its jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<Handler>,
    /// The JSON Schema its payloads must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_schema: Option<Value>,
    /// Its jobs' default and most attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
    /// Its jobs' default and longest attempt, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// How retryable failures are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// How long its finished jobs are kept, over the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// When the tenant defined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The answer to a PUT: the type, and its HMAC secret when one was just made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobTypeWithSecret {
    /// The type as stored.
    #[serde(flatten)]
    pub job_type: JobType,
    /// The new HMAC secret of an `hmac` target, shown this once: keep it,
    /// the target verifies `Jobs-Signature` with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A tenant's job type, as `PUT /v1/job-types/{name}` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTypeDefinition {
    /// What runs its jobs.
    pub handler: Handler,
    /// A JSON Schema (2020-12) payloads must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_schema: Option<Value>,
    /// Its jobs' default and most attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Its jobs' default and longest attempt, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    /// How retryable failures are retried (the API's default: Pub/Sub's backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// How long its finished jobs are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// How many of its jobs run at once, per key value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// The `callback_url` of its jobs that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Fields this client does not know (an API newer than it), sent as
    /// they are; the API refuses those it does not know either.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl JobTypeDefinition {
    /// A type run by `handler`, with the defaults for everything else.
    pub fn new(handler: Handler) -> JobTypeDefinition {
        JobTypeDefinition {
            handler,
            payload_schema: None,
            max_attempts: None,
            timeout_seconds: None,
            retry: None,
            retention: None,
            concurrency: None,
            callback_url: None,
            other: Map::new(),
        }
    }
}

/// What runs a tenant's job type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Handler {
    /// A built-in handler (`email`, `http`, `noop`, `sleep`) under the
    /// type's name, schema and policies.
    Builtin(String),
    /// An HTTP endpoint of the tenant's, called as the README's target
    /// contract says.
    Target(Target),
}

/// A tenant's HTTP endpoint that runs a type's jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Absolute `http` or `https` URL.
    pub url: String,
    /// HTTP method; the API's default is `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// How the target tells the service's requests from others.
    #[serde(default)]
    pub auth: TargetAuth,
}

/// How a target authenticates the service's requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetAuth {
    /// No credentials.
    #[default]
    None,
    /// A Google-signed ID token of the worker's service account.
    Oidc {
        /// The token's audience; the target's URL when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
    /// A `Jobs-Signature` HMAC of the body under the type's own secret.
    Hmac,
}

/// How a job type's retryable failures are retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryStrategy {
    /// Pub/Sub's redelivery backoff (10 s to 600 s).
    Pubsub,
    /// `initial_delay_seconds × multiplier^(n-1)`, at most `max_delay_seconds`.
    Exponential {
        /// The delay before the first retry.
        initial_delay_seconds: u32,
        /// The longest delay.
        max_delay_seconds: u32,
        /// The growth per retry (the API's default is 2).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        multiplier: Option<f64>,
        /// Spread each delay over [delay/2, delay].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter: Option<bool>,
    },
    /// `initial_delay_seconds + step_seconds × (n-1)`, at most `max_delay_seconds`.
    Linear {
        /// The delay before the first retry.
        initial_delay_seconds: u32,
        /// What each retry adds.
        step_seconds: u32,
        /// The longest delay.
        max_delay_seconds: u32,
    },
    /// The same delay before every retry.
    Fixed {
        /// The delay.
        delay_seconds: u32,
    },
}

/// How long a type's finished jobs are kept, in seconds; what is `None`
/// keeps the service's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Completed jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_seconds: Option<u32>,
    /// Failed jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_seconds: Option<u32>,
    /// Cancelled jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_seconds: Option<u32>,
}

/// At most `limit` of a type's jobs processing at once per value of `key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concurrency {
    /// A JSON pointer into the payload (`/user_id`); `None`: one limit for
    /// the whole type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Jobs running at once per key value.
    pub limit: u32,
}

/// The tenant's callback signing secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallbackSecret {
    /// Verifies `Jobs-Signature` on the tenant's callbacks.
    pub secret: String,
}

#[derive(Deserialize)]
struct JobTypes {
    job_types: Vec<JobType>,
}

impl Client {
    /// `GET /v1/job-types`: the built-in types, then the tenant's by name.
    pub async fn list_job_types(&self) -> Result<Vec<JobType>, Error> {
        let request = self.request(Method::GET, self.url(&["v1", "job-types"])?);
        let answer: JobTypes = self.fetch(request).await?;
        Ok(answer.job_types)
    }

    /// `GET /v1/job-types/{name}`: one type (never its secret).
    pub async fn get_job_type(&self, name: &str) -> Result<JobType, Error> {
        let request = self.request(Method::GET, self.url(&["v1", "job-types", name])?);
        self.fetch(request).await
    }

    /// `PUT /v1/job-types/{name}`: defines the type (`created`), or replaces
    /// the tenant's type of that name. A new `hmac` target's secret is in
    /// the answer, this once.
    pub async fn put_job_type(
        &self,
        name: &str,
        definition: &JobTypeDefinition,
    ) -> Result<Saved<JobTypeWithSecret>, Error> {
        let request = self.request(Method::PUT, self.url(&["v1", "job-types", name])?);
        self.save(request.json(definition)).await
    }

    /// `DELETE /v1/job-types/{name}`: deletes one of the tenant's types;
    /// its jobs that have not run fail at their next attempt.
    pub async fn delete_job_type(&self, name: &str) -> Result<(), Error> {
        let request = self.request(Method::DELETE, self.url(&["v1", "job-types", name])?);
        self.execute(request).await
    }

    /// `POST /v1/job-types/{name}/rotate-secret`: a new HMAC secret for an
    /// `hmac` target, shown this once; the old one stops verifying.
    pub async fn rotate_job_type_secret(&self, name: &str) -> Result<String, Error> {
        let url = self.url(&["v1", "job-types", name, "rotate-secret"])?;
        let answer: CallbackSecret = self.fetch(self.request(Method::POST, url)).await?;
        Ok(answer.secret)
    }

    /// `POST /v1/callback-secret`: creates the tenant's callback signing
    /// secret (`created`), or rotates it; shown this once.
    pub async fn create_callback_secret(&self) -> Result<Saved<CallbackSecret>, Error> {
        let request = self.request(Method::POST, self.url(&["v1", "callback-secret"])?);
        self.save(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_definition_reads_and_writes_the_api_shape_and_keeps_unknown_fields() {
        let sent = json!({
            "handler": {"target": {"url": "https://billing.example.com/jobs", "auth": {"kind": "hmac"}}},
            "payload_schema": {"type": "object"},
            "max_attempts": 8,
            "retry": {"strategy": "exponential", "initial_delay_seconds": 5, "max_delay_seconds": 600},
            "retention": {"completed_seconds": 86400},
            "concurrency": {"key": "/user_id", "limit": 2},
            "rate_limit": {"key": "/user_id", "limit": 10, "period_seconds": 60}
        });
        let definition: JobTypeDefinition =
            serde_json::from_value(sent.clone()).expect("reads the API's shape");
        assert_eq!(
            definition.handler,
            Handler::Target(Target {
                url: "https://billing.example.com/jobs".to_owned(),
                auth: TargetAuth::Hmac,
                ..Target::default()
            })
        );
        assert!(definition.other.contains_key("rate_limit"));
        assert_eq!(serde_json::to_value(&definition).expect("writes"), sent);
    }

    #[test]
    fn a_builtin_handler_is_named_by_its_key() {
        let definition = JobTypeDefinition::new(Handler::Builtin("noop".to_owned()));
        assert_eq!(
            serde_json::to_value(&definition).expect("writes"),
            json!({"handler": {"builtin": "noop"}})
        );
    }
}

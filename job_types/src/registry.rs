//! The job types by name: [`Builtin`] describes a built-in type without
//! building it (the API only checks payloads), and [`Registry`] holds the
//! built, runnable types the worker calls.

use crate::HandlerSettings;
use crate::job_type::{HandlerError, JobType, SetupError, parse_payload};
use async_trait::async_trait;
use jobs_domain::submission::PayloadSchema;
use jobs_domain::{Job, PayloadCheck, PayloadError};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use utoipa::PartialSchema;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::{RefOr, Schema};

/// One attempt of a job, whatever its type: what the worker calls.
#[async_trait]
pub trait Runner: Send + Sync {
    /// Parses the job's payload for its type and runs the attempt; `cancel`
    /// fires when the run should stop early ([`JobType::run`]).
    async fn run(&self, job: &Job, cancel: &CancellationToken) -> Result<Value, HandlerError>;
}

#[async_trait]
impl<T: JobType> Runner for T {
    async fn run(&self, job: &Job, cancel: &CancellationToken) -> Result<Value, HandlerError> {
        let payload = parse_payload::<T::Payload>(&job.payload)?;
        JobType::run(self, payload, job, cancel).await
    }
}

/// A built-in job type, as listed in [`crate::BUILTIN`].
pub struct Builtin {
    name: &'static str,
    check: fn(&Value) -> Result<(), PayloadError>,
    schema: fn() -> RefOr<Schema>,
    build: fn(&HandlerSettings) -> Result<Arc<dyn Runner>, SetupError>,
}

impl fmt::Debug for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Builtin").field(&self.name).finish()
    }
}

impl Builtin {
    /// The entry of job type `T`.
    pub const fn of<T: JobType>() -> Self {
        Builtin {
            name: T::NAME,
            check: check::<T>,
            schema: <T::Payload as PartialSchema>::schema,
            build: build::<T>,
        }
    }

    /// The type's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Checks a payload for this type.
    pub fn check(&self, payload: &Value) -> Result<(), PayloadError> {
        (self.check)(payload)
    }

    /// The fields of this type's payload, when it admits no others (`None`:
    /// any object, as for `noop`).
    pub fn own_fields(&self) -> Option<Vec<String>> {
        match (self.schema)() {
            RefOr::T(Schema::Object(object))
                if matches!(
                    object.additional_properties.as_deref(),
                    Some(AdditionalProperties::FreeForm(false))
                ) =>
            {
                Some(object.properties.keys().cloned().collect())
            }
            _ => None,
        }
    }

    /// The type's payload schema for the OpenAPI document, as component
    /// `<Name>Payload` (`HttpPayload`).
    pub fn payload_schema(&self) -> PayloadSchema {
        let mut chars = self.name.chars();
        let capitalised: String = chars
            .next()
            .map(|first| first.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        PayloadSchema {
            job_type: self.name,
            component: format!("{capitalised}Payload"),
            schema: (self.schema)(),
        }
    }
}

fn check<T: JobType>(payload: &Value) -> Result<(), PayloadError> {
    parse_payload::<T::Payload>(payload).map(drop)
}

fn build<T: JobType>(settings: &HandlerSettings) -> Result<Arc<dyn Runner>, SetupError> {
    Ok(Arc::new(T::build(settings)?))
}

/// The built-in types as the API's [`PayloadCheck`].
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinTypes;

impl PayloadCheck for BuiltinTypes {
    fn check(&self, job_type: &str, payload: &Value) -> Result<(), PayloadError> {
        let builtin = crate::BUILTIN
            .iter()
            .find(|builtin| builtin.name == job_type)
            .ok_or_else(|| PayloadError::UnknownType {
                name: job_type.to_owned(),
                known: crate::BUILTIN
                    .iter()
                    .map(|b| b.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        (builtin.check)(payload)
    }
}

/// Why a registry cannot be assembled.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A type could not be set up; fix the setting the message names.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Two types share a name; rename one, since jobs find their type by name.
    #[error("job type `{0}` is registered twice")]
    Duplicate(&'static str),
}

/// The runnable job types by name.
#[derive(Clone, Default)]
pub struct Registry {
    runners: HashMap<&'static str, Arc<dyn Runner>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every built-in type, set up from `settings`. Call it inside a Tokio
    /// runtime: the SMTP connection pool starts a task.
    pub fn builtin(settings: &HandlerSettings) -> Result<Self, RegistryError> {
        let mut registry = Registry::new();
        for builtin in crate::BUILTIN {
            registry.insert(builtin.name, (builtin.build)(settings)?)?;
        }
        Ok(registry)
    }

    /// Adds `job_type` under its name.
    pub fn register<T: JobType>(mut self, job_type: T) -> Result<Self, RegistryError> {
        self.insert(T::NAME, Arc::new(job_type))?;
        Ok(self)
    }

    fn insert(&mut self, name: &'static str, runner: Arc<dyn Runner>) -> Result<(), RegistryError> {
        match self.runners.insert(name, runner) {
            Some(_) => Err(RegistryError::Duplicate(name)),
            None => Ok(()),
        }
    }

    /// The runner of `job_type`, if one is registered.
    pub fn get(&self, job_type: &str) -> Option<Arc<dyn Runner>> {
        self.runners.get(job_type).cloned()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<&str> = self.runners.keys().copied().collect();
        types.sort_unstable();
        f.debug_struct("Registry").field("types", &types).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BUILTIN, Noop, Sleep, SmtpUrl};
    use serde_json::json;

    fn settings() -> HandlerSettings {
        HandlerSettings {
            smtp_url: None,
            email_from: "jobs@localhost".parse().expect("mailbox"),
            http_allow_private_networks: false,
        }
    }

    #[test]
    fn the_builtin_registry_runs_every_type_the_api_accepts() {
        let registry = Registry::builtin(&settings()).expect("complete");
        for builtin in BUILTIN {
            assert!(registry.get(builtin.name()).is_some(), "{}", builtin.name());
        }
        let names: Vec<&str> = BUILTIN.iter().map(Builtin::name).collect();
        assert_eq!(names, ["http", "email", "noop", "sleep"]);
        let components: Vec<String> = BUILTIN
            .iter()
            .map(|builtin| builtin.payload_schema().component)
            .collect();
        assert_eq!(
            components,
            ["HttpPayload", "EmailPayload", "NoopPayload", "SleepPayload"]
        );
    }

    #[test]
    fn a_second_type_with_a_taken_name_is_refused() {
        let registry = Registry::new().register(Noop).expect("first");
        assert!(matches!(
            registry.register(Noop),
            Err(RegistryError::Duplicate("noop"))
        ));
        assert!(Registry::new().register(Sleep).is_ok());
    }

    #[test]
    fn unknown_types_are_rejected_with_the_known_list() {
        let err = BuiltinTypes
            .check("fax", &json!({}))
            .expect_err("must be refused");
        assert!(matches!(err, PayloadError::UnknownType { .. }));
        assert!(err.to_string().contains("http, email, noop, sleep"));
    }

    #[test]
    fn noop_accepts_any_object_but_not_a_scalar() {
        assert!(
            BuiltinTypes
                .check("noop", &json!({"anything": [1, 2]}))
                .is_ok()
        );
        assert!(BuiltinTypes.check("noop", &json!(3)).is_err());
    }

    #[test]
    fn invalid_payload_errors_name_the_field() {
        let err = BuiltinTypes
            .check("sleep", &json!({"ms": "long"}))
            .expect_err("must be refused");
        assert!(err.to_string().starts_with("ms:"), "{err}");
    }

    #[tokio::test]
    async fn an_smtp_url_builds_an_smtp_transport() {
        let mut settings = settings();
        settings.smtp_url = Some(
            SmtpUrl::unchecked("smtp://user:pass@127.0.0.1:2525").unwrap_or_else(|n| match n {}),
        );
        assert!(Registry::builtin(&settings).is_ok());
    }
}

//! Job handlers: the [`Handler`] trait, its error, and the [`Registry`] from
//! job type to handler. A new job type is its payload in
//! `jobs_domain::job_types`, a `Handler` impl here, and one line in
//! [`Registry::builtin`].

mod email;
mod http;
mod http_guard;
mod noop;
mod sleep;

pub use email::{EmailHandler, EmailSettings, masked_recipients};
pub use http::{HttpHandler, HttpSettings};
pub use noop::NoopHandler;
pub use sleep::SleepHandler;

use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::job_types::{KNOWN_TYPES, PayloadError};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// Runs the jobs of one type.
#[async_trait]
pub trait Handler: Send + Sync {
    /// The job type it runs, as in `jobs_domain::job_types::KNOWN_TYPES`.
    fn job_type(&self) -> &'static str;

    /// Runs one attempt of `job`, returning the result to store. The worker
    /// bounds the run with the job's timeout and drops it when that passes.
    async fn run(&self, job: &Job) -> Result<Value, HandlerError>;
}

/// How a run failed. The message becomes the job's `error` and is logged, so
/// it must hold no secret (headers, credentials) and no unmasked address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandlerError {
    /// May pass on another attempt: the job goes back to pending while it has attempts left.
    #[error("{0}")]
    Retryable(String),
    /// No retry can fix it: the job fails now.
    #[error("{0}")]
    Permanent(String),
}

impl From<PayloadError> for HandlerError {
    fn from(err: PayloadError) -> Self {
        // The API checked the payload on submit, so this is a stored job from
        // an older schema: retrying cannot change it.
        HandlerError::Permanent(format!("invalid payload: {err}"))
    }
}

/// Settings of the built-in handlers.
#[derive(Debug, Clone)]
pub struct HandlerSettings {
    /// The `http` handler's.
    pub http: HttpSettings,
    /// The `email` handler's.
    pub email: EmailSettings,
}

/// Why the handler registry cannot serve.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// Known job types without a handler: the API would accept jobs nothing runs.
    #[error("no handler for job type(s) {0}; register one in Registry::builtin")]
    Missing(String),
    /// One job type registered twice.
    #[error("job type `{0}` has more than one handler")]
    Duplicate(&'static str),
    /// A built-in handler could not be set up.
    #[error("the `{job_type}` handler cannot start: {message}")]
    Setup {
        /// The handler's job type.
        job_type: &'static str,
        /// Why.
        message: String,
    },
}

/// The handlers by job type.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    duplicates: Vec<&'static str>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every built-in handler, checked to cover every known job type. Call it
    /// inside a Tokio runtime: the SMTP connection pool starts a task.
    pub fn builtin(settings: &HandlerSettings) -> Result<Self, RegistryError> {
        let registry = Registry::new()
            .register(HttpHandler::new(&settings.http)?)
            .register(EmailHandler::new(&settings.email)?)
            .register(NoopHandler)
            .register(SleepHandler);
        registry.check_complete()?;
        Ok(registry)
    }

    /// Adds `handler` for its job type.
    pub fn register(mut self, handler: impl Handler + 'static) -> Self {
        let job_type = handler.job_type();
        if self.handlers.insert(job_type, Arc::new(handler)).is_some() {
            self.duplicates.push(job_type);
        }
        self
    }

    /// The handler of `job_type`, if one is registered.
    pub fn get(&self, job_type: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(job_type).cloned()
    }

    /// Checks every known job type has exactly one handler.
    pub fn check_complete(&self) -> Result<(), RegistryError> {
        if let Some(job_type) = self.duplicates.first() {
            return Err(RegistryError::Duplicate(job_type));
        }
        let missing: Vec<&str> = KNOWN_TYPES
            .iter()
            .map(|spec| spec.name)
            .filter(|name| !self.handlers.contains_key(name))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(RegistryError::Missing(missing.join(", ")))
        }
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut types: Vec<&str> = self.handlers.keys().copied().collect();
        types.sort_unstable();
        f.debug_struct("Registry").field("types", &types).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SmtpUrl;
    use lettre::message::Mailbox;

    fn settings() -> HandlerSettings {
        HandlerSettings {
            http: HttpSettings {
                allow_private_networks: false,
            },
            email: EmailSettings {
                smtp_url: None,
                from: "jobs@localhost".parse::<Mailbox>().expect("mailbox"),
            },
        }
    }

    #[test]
    fn the_builtin_registry_covers_every_known_type() {
        let registry = Registry::builtin(&settings()).expect("complete");
        for spec in KNOWN_TYPES {
            let handler = registry.get(spec.name).expect("a handler");
            assert_eq!(handler.job_type(), spec.name);
        }
    }

    #[test]
    fn a_missing_handler_is_named() {
        let registry = Registry::new().register(NoopHandler).register(SleepHandler);
        let err = registry.check_complete().expect_err("incomplete");
        assert_eq!(
            err.to_string().split(';').next(),
            Some("no handler for job type(s) http, email")
        );
    }

    #[test]
    fn a_second_handler_for_a_type_is_refused() {
        let registry = Registry::builtin(&settings())
            .expect("complete")
            .register(NoopHandler);
        assert!(matches!(
            registry.check_complete(),
            Err(RegistryError::Duplicate("noop"))
        ));
    }

    #[tokio::test]
    async fn an_smtp_url_builds_an_smtp_transport() {
        let mut settings = settings();
        settings.email.smtp_url = Some(
            SmtpUrl::unchecked("smtp://user:pass@127.0.0.1:2525").unwrap_or_else(|n| match n {}),
        );
        assert!(Registry::builtin(&settings).is_ok());
    }
}

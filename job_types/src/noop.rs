//! The `noop` job type: succeeds at once with `{}`; for tests, demos and benchmarks.

use crate::job_type::{HandlerError, JobType, Payload, SetupError};
use crate::settings::HandlerSettings;
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::submission::schema::{NO_NUL_PATTERN, text};
use serde_json::{Value, json};
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::openapi::{Ref, RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// The `noop` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

/// The payload of the `noop` type: any JSON object, ignored.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NoopPayload(
    /// The object as given.
    pub serde_json::Map<String, Value>,
);

impl Payload for NoopPayload {}

impl PartialSchema for NoopPayload {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(text(NO_NUL_PATTERN, "")))
            .additional_properties(Some(Ref::from_schema_name("PayloadValue")))
            .description(Some(
                "The payload of the `noop` type: any JSON object, ignored.",
            ))
            .into()
    }
}

impl ToSchema for NoopPayload {}

#[async_trait]
impl JobType for Noop {
    const NAME: &'static str = "noop";
    type Payload = NoopPayload;

    fn build(_: &HandlerSettings) -> Result<Self, SetupError> {
        Ok(Noop)
    }

    async fn run(
        &self,
        _: NoopPayload,
        _: &Job,
        _: &tokio_util::sync::CancellationToken,
    ) -> Result<Value, HandlerError> {
        Ok(json!({}))
    }
}

//! The `sleep` job type: waits `ms` milliseconds, then succeeds with
//! `{"slept_ms": ms}`; for tests, demos and benchmarks of slow jobs.

use crate::job_type::{HandlerError, JobType, Payload, SetupError};
use crate::settings::HandlerSettings;
use async_trait::async_trait;
use jobs_domain::Job;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// The `sleep` job type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sleep;

/// The payload of the `sleep` type: wait, then succeed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepPayload {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
}

/// An hour: longer than any job timeout, so a longer sleep is surely a mistake.
const MAX_SLEEP_MS: u64 = 3_600_000;

impl Payload for SleepPayload {
    fn validate(&self) -> Result<(), String> {
        if self.ms > MAX_SLEEP_MS {
            return Err(format!("ms: must be at most {MAX_SLEEP_MS}"));
        }
        Ok(())
    }
}

impl PartialSchema for SleepPayload {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("The payload of the `sleep` type: wait, then succeed."))
            .property(
                "ms",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(MAX_SLEEP_MS))
                    .description(Some("How long to sleep, in milliseconds.")),
            )
            .required("ms")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for SleepPayload {}

#[async_trait]
impl JobType for Sleep {
    const NAME: &'static str = "sleep";
    type Payload = SleepPayload;

    fn build(_: &HandlerSettings) -> Result<Self, SetupError> {
        Ok(Sleep)
    }

    async fn run(&self, payload: SleepPayload, _: &Job) -> Result<Value, HandlerError> {
        tokio::time::sleep(Duration::from_millis(payload.ms)).await;
        Ok(json!({"slept_ms": payload.ms}))
    }
}

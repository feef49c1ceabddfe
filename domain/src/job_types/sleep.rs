use super::Payload;
use serde::Deserialize;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema};
use utoipa::openapi::{RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

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

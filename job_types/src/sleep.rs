//! The `sleep` job type: waits `ms` milliseconds, then succeeds with
//! `{"slept_ms": ms}`; for tests, demos and benchmarks of slow jobs. A
//! cancel stops the wait at once.

use crate::job_type::{HandlerError, JobType, Payload, SetupError};
use crate::settings::HandlerSettings;
use async_trait::async_trait;
use jobs_domain::Job;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
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

    async fn run(
        &self,
        payload: SleepPayload,
        _: &Job,
        cancel: &CancellationToken,
    ) -> Result<Value, HandlerError> {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(payload.ms)) => {
                Ok(json!({"slept_ms": payload.ms}))
            }
            () = cancel.cancelled() => Err(HandlerError::Cancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Runner;

    fn job(ms: u64) -> Job {
        let now = chrono::Utc::now();
        Job {
            id: jobs_domain::JobId::new(),
            tenant: jobs_domain::TenantId(Default::default()),
            job_type: "sleep".into(),
            status: jobs_domain::JobStatus::Processing,
            payload: json!({"ms": ms}),
            result: None,
            error: None,
            failure_reason: None,
            attempts: 1,
            max_attempts: 1,
            timeout_seconds: 3600,
            run_at: now,
            created_at: now,
            updated_at: now,
            started_at: Some(now),
            finished_at: None,
            idempotency_key: None,
            callback_url: None,
            schedule: None,
            cancel_requested_at: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_when_its_time_is_up_or_at_once_when_cancelled() {
        let cancel = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let slept = Runner::run(&Sleep, &job(30_000), &cancel).await;
        assert_eq!(slept, Ok(json!({"slept_ms": 30_000})));
        assert_eq!(started.elapsed(), Duration::from_secs(30));

        let started = tokio::time::Instant::now();
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(250)).await;
            canceller.cancel();
        });
        let cancelled = Runner::run(&Sleep, &job(30_000), &cancel).await;
        assert_eq!(cancelled, Err(HandlerError::Cancelled));
        assert_eq!(started.elapsed(), Duration::from_millis(250));
    }
}

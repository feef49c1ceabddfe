//! The `sleep` job type: waits `ms` milliseconds, then succeeds with
//! `{"slept_ms": ms}`; for tests, demos and benchmarks of slow jobs.

use super::{Handler, HandlerError};
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::job_types::{SleepPayload, parse_payload};
use serde_json::{Value, json};
use std::time::Duration;

/// Runs `sleep` jobs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SleepHandler;

#[async_trait]
impl Handler for SleepHandler {
    fn job_type(&self) -> &'static str {
        "sleep"
    }

    async fn run(&self, job: &Job) -> Result<Value, HandlerError> {
        let payload: SleepPayload = parse_payload(&job.payload)?;
        tokio::time::sleep(Duration::from_millis(payload.ms)).await;
        Ok(json!({"slept_ms": payload.ms}))
    }
}

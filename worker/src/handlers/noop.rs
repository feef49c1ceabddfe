//! The `noop` job type: succeeds at once with `{}`; for tests, demos and benchmarks.

use super::{Handler, HandlerError};
use async_trait::async_trait;
use jobs_domain::Job;
use jobs_domain::job_types::{NoopPayload, parse_payload};
use serde_json::{Value, json};

/// Runs `noop` jobs.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHandler;

#[async_trait]
impl Handler for NoopHandler {
    fn job_type(&self) -> &'static str {
        "noop"
    }

    async fn run(&self, job: &Job) -> Result<Value, HandlerError> {
        parse_payload::<NoopPayload>(&job.payload)?;
        Ok(json!({}))
    }
}

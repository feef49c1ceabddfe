//! Completion callbacks: a job of the internal `callback` type POSTs the job
//! it names, as `GET /v1/jobs/{id}` shows it, to the URL that job gave,
//! signed with the tenant's callback secret like an HMAC target's request.
//! It is a job of its own, so a receiver that fails is retried like any
//! target (Pub/Sub's redelivery), and the job it reports never waits for it.

use crate::state::AppState;
use jobs_domain::callback::CallbackPayload;
use jobs_domain::{Job, StoreError};
use jobs_job_types::HandlerError;
use serde_json::{Value, json};
use std::time::Duration;
use url::Url;

/// Sends the callback `job` carries, within `limit`.
pub async fn send(state: &AppState, job: &Job, limit: Duration) -> Result<Value, HandlerError> {
    let payload: CallbackPayload = serde_json::from_value(job.payload.clone())
        .map_err(|err| HandlerError::Permanent(format!("not a callback: {err}")))?;
    let url = Url::parse(&payload.url)
        .map_err(|err| HandlerError::Permanent(format!("callback_url: {err}")))?;
    let ended = match state.jobs.get(job.tenant, payload.job_id).await {
        Ok(ended) => ended,
        Err(StoreError::NotFound) => {
            return Err(HandlerError::Permanent(format!(
                "job {} no longer exists (its retention ended)",
                payload.job_id
            )));
        }
        Err(err) => return Err(HandlerError::Retryable(err.to_string())),
    };
    // Retried since it ended: its next end enqueues a callback of its own.
    if !ended.status.is_terminal() {
        return Ok(json!({
            "skipped": format!("job {} is {} again; its next end sends its own callback", ended.id, ended.status)
        }));
    }
    let sealed = state
        .callback_secrets
        .get(job.tenant)
        .await
        .map_err(|err| HandlerError::Retryable(err.to_string()))?
        .ok_or_else(|| {
            HandlerError::Permanent(
                "the tenant has no callback secret (POST /v1/callback-secret)".to_owned(),
            )
        })?;
    let secret_box = state.secret_box.as_ref().ok_or_else(|| {
        HandlerError::Permanent(
            "the worker has no JOB_TYPE_SECRETS_KEY to open the callback secret with".to_owned(),
        )
    })?;
    let secret = secret_box.open(&sealed).map_err(|err| {
        HandlerError::Permanent(format!("the callback secret cannot be opened: {err}"))
    })?;
    let body = serde_json::to_vec(&json!({ "job": ended }))
        .map_err(|err| HandlerError::Permanent(format!("the job cannot be serialised: {err}")))?;
    state
        .targets
        .post_signed(&url, &secret, body, job, limit)
        .await
}

//! Bulk operations on `/v1/jobs`: submit a batch of jobs, and send failed
//! jobs back to pending by a filter.

use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Tenant, field_of};
use crate::page_token;
use crate::routes::jobs::type_filter_error;
use crate::state::AppState;
use crate::submission::{detached, prepare, require_callback_secret};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use jobs_domain::{FailureReason, FieldError, Job, JobFilter, JobStatus, JobSubmission};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Most jobs in one batch.
pub const MAX_BATCH_JOBS: usize = 500;
/// Most failed jobs one bulk retry sends back.
pub const MAX_RETRY_JOBS: u32 = 1000;
const DEFAULT_RETRY_JOBS: u32 = 100;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit_batch))
        .routes(routes!(retry_failed))
}

/// The body of `POST /v1/jobs/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Batch {
    /// The jobs, each as `POST /v1/jobs` takes it (with its own `idempotency_key`).
    #[schema(value_type = Vec<JobSubmission>, min_items = 1, max_items = 500)]
    jobs: Vec<Value>,
}

/// The stored jobs of a batch, in the order submitted.
#[derive(Debug, Serialize, ToSchema)]
struct BatchJobs {
    /// One job per submission; a replayed idempotency key gives the original job.
    jobs: Vec<Job>,
}

/// Submit up to 500 jobs at once.
#[utoipa::path(
    post, path = "/v1/jobs/batch", tag = "jobs",
    request_body = Batch,
    responses(
        (status = 202, description = "Every job stored as pending (or, under a replayed key, the original)", body = BatchJobs),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 409, description = "Idempotency keys used with other bodies; nothing stored", body = Problem),
        (status = 413, description = "The body is over the size limit", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "Invalid items, each field named `jobs/<index>/<field>`; nothing stored", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn submit_batch(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    JsonBody(batch): JsonBody<Batch>,
) -> Result<Response, ApiError> {
    if headers.contains_key("idempotency-key") {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "a batch takes no Idempotency-Key header: give each job its own idempotency_key",
        ));
    }
    if batch.jobs.is_empty() || batch.jobs.len() > MAX_BATCH_JOBS {
        return Err(ApiError::invalid(
            "jobs",
            format!("must hold 1 to {MAX_BATCH_JOBS} jobs"),
        ));
    }
    let mut errors = Vec::new();
    let mut jobs = Vec::with_capacity(batch.jobs.len());
    for (index, item) in batch.jobs.into_iter().enumerate() {
        let at = |field: &str| format!("jobs/{index}/{field}");
        let submission: JobSubmission = match serde_path_to_error::deserialize(item) {
            Ok(submission) => submission,
            Err(err) => {
                let path = err.path().to_string();
                let message = err.into_inner().to_string();
                errors.push(FieldError::new(at(&field_of(&path, &message)), message));
                continue;
            }
        };
        match prepare(&state, tenant, submission, None).await? {
            Ok(prepared) if prepared.rate_limit.is_some() => errors.push(FieldError::new(
                at("type"),
                "a rate-limited type's jobs are submitted one at a time (POST /v1/jobs)",
            )),
            Ok(prepared) => jobs.push(prepared.job),
            Err(fields) => errors.extend(
                fields
                    .into_iter()
                    .map(|error| FieldError::new(at(&error.field), error.message)),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let with_fields = jobs
        .iter()
        .enumerate()
        .map(|(index, job)| (format!("jobs/{index}/callback_url"), job));
    require_callback_secret(&state, tenant, with_fields).await?;
    let answer = detached({
        let state = state.clone();
        async move {
            let submitted = state.jobs.insert_many(tenant, &jobs).await?;
            let now = Utc::now();
            let mut due = Vec::new();
            let mut answer = Vec::with_capacity(submitted.len());
            for item in submitted {
                state
                    .metrics
                    .job_submitted(&item.job.job_type, !item.created);
                if item.created && item.job.run_at <= now {
                    due.push(item.job.clone());
                }
                answer.push(item.job);
            }
            // One publishing task for the batch; delayed jobs are the reconciler's.
            state.publisher.hand_off_all(&due);
            Ok(answer)
        }
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(BatchJobs { jobs: answer })).into_response())
}

/// The body of `POST /v1/jobs/retry`: which failed jobs to send back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RetryFilter {
    /// Only jobs of this type.
    #[serde(rename = "type")]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    job_type: Option<String>,
    /// Only jobs that failed for this reason.
    failure_reason: Option<FailureReason>,
    /// Only jobs that finished at or after this time.
    finished_after: Option<DateTime<Utc>>,
    /// Only jobs that finished before this time.
    finished_before: Option<DateTime<Utc>>,
    /// Most jobs sent back by this call, 1 to 1,000 (default 100).
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `next_page_token` of the previous call, to go on after its last job.
    #[schema(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    page_token: Option<String>,
}

/// What a bulk retry did.
#[derive(Debug, Serialize, ToSchema)]
struct Requeued {
    /// How many failed jobs went back to pending.
    requeued: usize,
    /// Pass as `page_token` to go on; absent when no more jobs matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// Run failed jobs again, by a filter (at most 1,000 per call, oldest first).
#[utoipa::path(
    post, path = "/v1/jobs/retry", tag = "jobs",
    request_body = RetryFilter,
    responses(
        (status = 200, description = "The matching failed jobs are pending again", body = Requeued),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 413, description = "The body is over the size limit", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "Invalid fields, listed in `errors`", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn retry_failed(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JsonBody(filter): JsonBody<RetryFilter>,
) -> Result<Json<Requeued>, ApiError> {
    let mut errors = Vec::new();
    let limit = filter.limit.unwrap_or(DEFAULT_RETRY_JOBS);
    if !(1..=MAX_RETRY_JOBS).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            format!("must be from 1 to {MAX_RETRY_JOBS}"),
        ));
    }
    errors.extend(type_filter_error(filter.job_type.as_deref()));
    let after = match filter.page_token.as_deref().map(page_token::decode) {
        Some(None) => {
            errors.push(FieldError::new(
                "page_token",
                "not a token from a previous call",
            ));
            None
        }
        other => other.flatten(),
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let filter = JobFilter {
        status: Some(JobStatus::Failed),
        job_type: filter.job_type,
        failure_reason: filter.failure_reason,
        finished_after: filter.finished_after,
        finished_before: filter.finished_before,
        schedule: None,
        idempotency_key: None,
    };
    let (requeued, next) = state
        .jobs
        .retry_failed(tenant, &filter, limit, after)
        .await?;
    state.publisher.hand_off_all(&requeued);
    Ok(Json(Requeued {
        requeued: requeued.len(),
        next_page_token: next.map(page_token::encode),
    }))
}

//! `/v1/jobs`: submit, read (or wait for a result), list, cancel, retry and history.

use crate::error::{ApiError, Problem};
use crate::extract::{JobIdPath, JsonBody, Tenant};
use crate::page_token;
use crate::state::AppState;
use crate::submission::{detached, prepare, require_callback_secret};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use jobs_domain::schedule::{NAME_PATTERN, is_valid_name};
use jobs_domain::{
    FailureReason, FieldError, Job, JobFilter, JobHistoryEntry, JobStatus, JobSubmission,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit_job, list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(cancel_job))
        .routes(routes!(retry_job))
        .routes(routes!(job_events))
}

/// Submit a job.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs",
    request_body = JobSubmission,
    params((
        "Idempotency-Key" = Option<String>, Header, nullable = false,
        description = "Makes the submit safe to repeat; must equal the body's `idempotency_key` when both are given",
        min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$",
    )),
    responses(
        (status = 202, description = "Stored as pending", body = Job, headers(("Location" = String, description = "The job's URL"))),
        (status = 200, description = "Replay of an earlier submit with the same key", body = Job, headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 409, description = "The idempotency key was used with another body", body = Problem),
        (status = 413, description = "The body is over the size limit", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "Invalid fields, listed in `errors`", body = Problem),
        (status = 429, description = "The tenant is over its request rate (`rate-limited`), or the job type's rate limit is reached for the payload's key (`job-rate-limited`; nothing stored)", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn submit_job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    headers: HeaderMap,
    JsonBody(submission): JsonBody<JobSubmission>,
) -> Result<Response, ApiError> {
    let header_key = match headers.get("idempotency-key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let prepared = prepare(&state, tenant, submission, header_key)
        .await?
        .map_err(ApiError::Invalid)?;
    require_callback_secret(
        &state,
        tenant,
        std::iter::once(("callback_url".to_owned(), &prepared.job)),
    )
    .await?;
    let submitted = detached({
        let state = state.clone();
        async move {
            let submitted = match &prepared.rate_limit {
                Some((limit, key)) => {
                    state
                        .jobs
                        .insert_rate_limited(tenant, prepared.job, limit, key)
                        .await?
                }
                None => state.jobs.insert(tenant, prepared.job).await?,
            };
            state
                .metrics
                .job_submitted(&submitted.job.job_type, !submitted.created);
            // A delayed job is published by the reconciler when it comes due.
            if submitted.created && submitted.job.run_at <= chrono::Utc::now() {
                state.publisher.hand_off(&submitted.job);
            }
            Ok(submitted)
        }
    })
    .await?;
    let status = if submitted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let location = format!("/v1/jobs/{}", submitted.job.id);
    Ok((status, [(header::LOCATION, location)], Json(submitted.job)).into_response())
}

/// Query parameters of a read; read as strings so a bad value becomes a
/// field error, and documented as the value it is parsed into.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GetQuery {
    /// Seconds to wait for the job to be final (completed, failed or
    /// cancelled), 0 to 60 (default 0: answer at once). The answer comes as
    /// soon as the job is final or the wait ends, with the job either way;
    /// the wait is cut short to fit the server's request timeout, and ends
    /// when the server shuts down.
    #[param(value_type = u32, required = false, minimum = 0, maximum = 60)]
    wait_seconds: Option<String>,
}

/// The longest `wait_seconds`.
const MAX_WAIT_SECONDS: u64 = 60;

/// A wait: digits only (`u64`'s parser would take `+5`), at most the maximum.
fn wait_seconds(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse()
        .ok()
        .filter(|seconds| *seconds <= MAX_WAIT_SECONDS)
}

/// Read one job, or wait for it to be final.
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id"), GetQuery),
    responses(
        (status = 200, description = "The job; with `wait_seconds`, once it is final or the wait ended, whichever comes first", body = Job),
        (status = 400, description = "The query string cannot be read", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such job for this tenant", body = Problem),
        (status = 422, description = "Invalid parameters, listed in `errors`", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn get_job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
    uri: Uri,
) -> Result<Json<Job>, ApiError> {
    let Query(raw) = Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
    let query: GetQuery = serde_json::to_value(&raw)
        .and_then(serde_json::from_value)
        .map_err(|err| ApiError::Malformed(err.to_string()))?;
    let wait = match query.wait_seconds.as_deref().map(wait_seconds) {
        None => 0,
        Some(Some(seconds)) => seconds,
        Some(None) => {
            return Err(ApiError::invalid(
                "wait_seconds",
                format!("must be a whole number from 0 to {MAX_WAIT_SECONDS}"),
            ));
        }
    };
    if wait == 0 {
        return Ok(Json(state.jobs.get(tenant, id).await?));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait).min(state.max_wait);
    // Registered before the read, so a notice between the read and the wait wakes it.
    let mut waiter = state.waiters.register(id);
    loop {
        // No connection is held past this read: the wait holds only `waiter`.
        let job = state.jobs.get(tenant, id).await?;
        if job.status.is_terminal() || waiter.stopping() {
            return Ok(Json(job));
        }
        if tokio::time::timeout_at(deadline, waiter.wait())
            .await
            .is_err()
        {
            // The wait is over; read once more in case a notice went unheard.
            return Ok(Json(state.jobs.get(tenant, id).await?));
        }
    }
}

/// Query parameters of a listing; read as strings so bad values become field
/// errors, and documented as the values they are parsed into.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only jobs in this status.
    #[param(value_type = JobStatus, required = false)]
    status: Option<String>,
    /// Only jobs of this type: 1 to 100 characters, no control characters.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    job_type: Option<String>,
    /// Only failed jobs that failed for this reason.
    #[param(value_type = FailureReason, required = false)]
    failure_reason: Option<String>,
    /// Only jobs that finished at or after this time (RFC 3339).
    #[param(value_type = chrono::DateTime<chrono::Utc>, required = false)]
    finished_after: Option<String>,
    /// Only jobs that finished before this time (RFC 3339).
    #[param(value_type = chrono::DateTime<chrono::Utc>, required = false)]
    finished_before: Option<String>,
    /// Only jobs the schedule of this name enqueued.
    #[param(pattern = r"^[a-z][a-z0-9._-]{0,99}$")]
    schedule: Option<String>,
    /// Only the job submitted with this idempotency key: 1 to 255
    /// characters, no control characters.
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    idempotency_key: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = u32, required = false, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_page_token` of the previous page.
    #[param(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$")]
    page_token: Option<String>,
}

/// One page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct JobList {
    /// The jobs.
    jobs: Vec<Job>,
    /// Pass as `page_token` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;
/// The `type` column's bound, in characters as its `length()` check counts.
const MAX_TYPE_CHARS: usize = 100;
/// The `idempotency_key` column's bound, counted the same way.
const MAX_KEY_CHARS: usize = 255;

/// The field error of a `type` filter that no job could have: 1 to 100
/// characters (as the column's `length()` counts them), no control characters.
pub(crate) fn type_filter_error(job_type: Option<&str>) -> Option<FieldError> {
    let job_type = job_type?;
    let fits = !job_type.is_empty()
        && job_type.chars().count() <= MAX_TYPE_CHARS
        && !job_type.chars().any(char::is_control);
    (!fits).then(|| {
        FieldError::new(
            "type",
            format!("must be 1 to {MAX_TYPE_CHARS} characters with no control characters"),
        )
    })
}

/// The field error of an `idempotency_key` filter that no job could have.
fn key_filter_error(key: Option<&str>) -> Option<FieldError> {
    let key = key?;
    let fits = !key.is_empty()
        && key.chars().count() <= MAX_KEY_CHARS
        && !key.chars().any(char::is_control);
    (!fits).then(|| {
        FieldError::new(
            "idempotency_key",
            format!("must be 1 to {MAX_KEY_CHARS} characters with no control characters"),
        )
    })
}

/// A page size: digits only (`u32`'s parser would take `+5`), from 1 to the maximum.
fn page_size(raw: &str) -> Option<u32> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse()
        .ok()
        .filter(|limit| (1..=MAX_PAGE_SIZE).contains(limit))
}

/// An RFC 3339 time of a query parameter; an unreadable one is a field error.
pub(crate) fn time_param(
    name: &str,
    raw: Option<String>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    let raw = raw?;
    match DateTime::parse_from_rfc3339(&raw) {
        Ok(time) => Some(time.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                name,
                "must be an RFC 3339 time, such as 2026-01-31T00:00:00Z",
            ));
            None
        }
    }
}

/// List jobs, newest first.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of jobs", body = JobList),
        (status = 400, description = "The query string cannot be read", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 422, description = "Invalid parameters, listed in `errors`", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn list_jobs(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    uri: Uri,
) -> Result<Json<JobList>, ApiError> {
    let Query(raw) = Query::<HashMap<String, String>>::try_from_uri(&uri)
        .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
    let query: ListQuery = serde_json::to_value(&raw)
        .and_then(serde_json::from_value)
        .map_err(|err| ApiError::Malformed(err.to_string()))?;
    let mut errors = Vec::new();
    let status = match query.status.as_deref().map(str::parse::<JobStatus>) {
        Some(Err(err)) => {
            errors.push(FieldError::new("status", err.to_string()));
            None
        }
        other => other.and_then(Result::ok),
    };
    let limit = match query.limit.as_deref().map(page_size) {
        None => DEFAULT_PAGE_SIZE,
        Some(Some(limit)) => limit,
        Some(None) => {
            errors.push(FieldError::new(
                "limit",
                format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
            ));
            DEFAULT_PAGE_SIZE
        }
    };
    let after = match query.page_token.as_deref().map(page_token::decode) {
        None => None,
        Some(Some(after)) => Some(after),
        Some(None) => {
            errors.push(FieldError::new(
                "page_token",
                "not a token from a previous page",
            ));
            None
        }
    };
    errors.extend(type_filter_error(query.job_type.as_deref()));
    errors.extend(key_filter_error(query.idempotency_key.as_deref()));
    let failure_reason = match query.failure_reason.as_deref().map(str::parse) {
        Some(Err(message)) => {
            errors.push(FieldError::new("failure_reason", message));
            None
        }
        other => other.and_then(Result::ok),
    };
    let finished_after = time_param("finished_after", query.finished_after, &mut errors);
    let finished_before = time_param("finished_before", query.finished_before, &mut errors);
    if let Some(schedule) = &query.schedule
        && !is_valid_name(schedule)
    {
        errors.push(FieldError::new(
            "schedule",
            format!("must be a schedule's name, matching {NAME_PATTERN}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let filter = JobFilter {
        status,
        job_type: query.job_type,
        failure_reason,
        finished_after,
        finished_before,
        schedule: query.schedule,
        idempotency_key: query.idempotency_key,
    };
    let page = state.jobs.list(tenant, &filter, limit, after).await?;
    Ok(Json(JobList {
        jobs: page.jobs,
        next_page_token: page.next_after.map(page_token::encode),
    }))
}

/// Cancel a job: a pending one at once, a running one by its worker.
///
/// A running job answers 202 with `cancel_requested_at` set: the worker
/// running it stops its handler within about two seconds and the job ends
/// `cancelled`, unless the handler finishes first, whose outcome then stands.
/// Asking again for a running job changes nothing.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job was pending and is now cancelled", body = Job),
        (status = 202, description = "The job is running: its cancel is requested (`cancel_requested_at`), and its worker stops it", body = Job),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such job for this tenant", body = Problem),
        (status = 409, description = "The job is already finished (completed, failed or cancelled)", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn cancel_job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let job = state.jobs.cancel(tenant, id).await?;
    let status = match job.status {
        JobStatus::Processing => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(job)))
}

/// Run a failed or cancelled job again.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job as it is now", body = Job),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such job for this tenant", body = Problem),
        (status = 409, description = "The job is not failed or cancelled", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn retry_job(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
) -> Result<Json<Job>, ApiError> {
    let job = state.jobs.retry(tenant, id).await?;
    if job.run_at <= chrono::Utc::now() {
        state.publisher.hand_off(&job);
    }
    Ok(Json(job))
}

/// A job's transition history.
#[derive(Debug, Serialize, ToSchema)]
struct JobEvents {
    /// Transitions, oldest first.
    events: Vec<JobHistoryEntry>,
}

/// Read a job's transition history, oldest first.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job's history", body = JobEvents),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such job for this tenant", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn job_events(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    JobIdPath(id): JobIdPath,
) -> Result<Json<JobEvents>, ApiError> {
    let events = state.jobs.history(tenant, id).await?;
    Ok(Json(JobEvents { events }))
}

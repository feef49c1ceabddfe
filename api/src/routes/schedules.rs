//! `/v1/schedules`: the tenant's periodic schedules. The API stores them; the
//! reconciler's leader (`worker/src/scheduler.rs`) enqueues their jobs.

use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Tenant};
use crate::state::AppState;
use crate::submission::prepare;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use jobs_domain::schedule::{NAME_PATTERN, is_valid_name};
use jobs_domain::{
    CronSchedule, FieldError, Schedule, ScheduleDefinition, ScheduledJob, StoreError, TenantId,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules))
        .routes(routes!(put_schedule, get_schedule, delete_schedule))
        .routes(routes!(pause_schedule))
        .routes(routes!(resume_schedule))
}

/// The tenant's schedules.
#[derive(Debug, Serialize, ToSchema)]
struct ScheduleList {
    /// By name.
    schedules: Vec<Schedule>,
}

/// A name from the path that names no schedule when it cannot be one.
fn known_name(name: &str) -> Result<(), ApiError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::ScheduleNotFound)
    }
}

/// A stored schedule's pattern, which the API validated when it was stored.
fn stored_cron(schedule: &Schedule) -> Result<CronSchedule, ApiError> {
    CronSchedule::parse(&schedule.cron, &schedule.timezone, Utc::now()).map_err(|errors| {
        let reasons: Vec<String> = errors.into_iter().map(|error| error.message).collect();
        ApiError::Inconsistent(format!(
            "stored schedule `{}`: {}",
            schedule.name,
            reasons.join("; ")
        ))
    })
}

/// List the tenant's schedules.
#[utoipa::path(
    get, path = "/v1/schedules", tag = "schedules",
    responses(
        (status = 200, description = "The tenant's schedules, by name", body = ScheduleList),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn list_schedules(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<Json<ScheduleList>, ApiError> {
    let schedules = state.schedules.list(tenant).await?;
    Ok(Json(ScheduleList { schedules }))
}

/// Read one schedule, with its next and last runs.
#[utoipa::path(
    get, path = "/v1/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule", body = Schedule),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such schedule for this tenant", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn get_schedule(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    known_name(&name)?;
    state
        .schedules
        .get(tenant, &name)
        .await?
        .map(Json)
        .ok_or(ApiError::ScheduleNotFound)
}

/// Create a schedule, or replace the tenant's schedule of that name.
///
/// The job template is checked as a submit of it would be. The next run is
/// computed from now (none while paused); a replaced schedule keeps its last run.
#[utoipa::path(
    put, path = "/v1/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "1–100 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter",
            pattern = r"^[a-z][a-z0-9._-]{0,99}$")),
    request_body = ScheduleDefinition,
    responses(
        (status = 201, description = "Created", body = Schedule),
        (status = 200, description = "Replaced", body = Schedule),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 413, description = "The body is over the size limit", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "Invalid fields, listed in `errors` (`cron`, `timezone`, `job.<field>`)", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn put_schedule(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    JsonBody(definition): JsonBody<ScheduleDefinition>,
) -> Result<Response, ApiError> {
    if !is_valid_name(&name) {
        return Err(ApiError::invalid(
            "name",
            format!("must match {NAME_PATTERN}"),
        ));
    }
    let now = Utc::now();
    let mut errors = Vec::new();
    let cron = CronSchedule::parse(&definition.cron, &definition.timezone, now)
        .map_err(|invalid| errors.extend(invalid))
        .ok();
    let job = match prepare(&state, tenant, definition.job.submission(), None).await? {
        Ok(prepared) => Some(prepared.job),
        Err(invalid) => {
            errors.extend(invalid.into_iter().map(|error| FieldError {
                field: format!("job.{}", error.field),
                message: error.message,
            }));
            None
        }
    };
    let (Some(cron), Some(job)) = (cron, job) else {
        return Err(ApiError::Invalid(errors));
    };
    let next_run_at = match definition.paused {
        true => None,
        false => Some(
            cron.next_after(now)
                .ok_or_else(|| ApiError::invalid("cron", "has no occurrence left"))?,
        ),
    };
    let job = ScheduledJob {
        job_type: job.job_type,
        payload: job.payload,
        max_attempts: job.max_attempts,
        timeout_seconds: job.timeout_seconds,
    };
    let (schedule, created) = state
        .schedules
        .put(
            tenant,
            &name,
            &definition.cron,
            &definition.timezone,
            &job,
            definition.paused,
            next_run_at,
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(schedule)).into_response())
}

/// Delete a schedule. The jobs it enqueued stay.
#[utoipa::path(
    delete, path = "/v1/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such schedule for this tenant", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn delete_schedule(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    known_name(&name)?;
    if !state.schedules.delete(tenant, &name).await? {
        return Err(ApiError::ScheduleNotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Pause a schedule: it enqueues nothing until resumed. Pausing a paused
/// schedule changes nothing.
#[utoipa::path(
    post, path = "/v1/schedules/{name}/pause", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule, paused", body = Schedule),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such schedule for this tenant", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn pause_schedule(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    known_name(&name)?;
    state
        .schedules
        .pause(tenant, &name)
        .await?
        .map(Json)
        .ok_or(ApiError::ScheduleNotFound)
}

/// How often a resume reads the schedule again when it changed under it.
const RESUME_TRIES: usize = 3;

/// Resume a paused schedule: its next run is the first occurrence from now
/// (none of those missed while paused is enqueued). Resuming an active
/// schedule changes nothing.
#[utoipa::path(
    post, path = "/v1/schedules/{name}/resume", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule, active", body = Schedule),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such schedule for this tenant", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn resume_schedule(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    known_name(&name)?;
    for _ in 0..RESUME_TRIES {
        if let Some(resumed) = resume_once(&state, tenant, &name).await? {
            return Ok(Json(resumed));
        }
    }
    Err(StoreError::Contended.into())
}

/// One read and one guarded write; `None` when the schedule changed between them.
async fn resume_once(
    state: &AppState,
    tenant: TenantId,
    name: &str,
) -> Result<Option<Schedule>, ApiError> {
    let schedule = state
        .schedules
        .get(tenant, name)
        .await?
        .ok_or(ApiError::ScheduleNotFound)?;
    if !schedule.paused {
        return Ok(Some(schedule));
    }
    let next_run_at = stored_cron(&schedule)?
        .next_after(Utc::now())
        .ok_or_else(|| {
            ApiError::Inconsistent(format!("stored schedule `{name}` has no occurrence left"))
        })?;
    Ok(state
        .schedules
        .resume(
            tenant,
            name,
            &schedule.cron,
            &schedule.timezone,
            next_run_at,
        )
        .await?)
}

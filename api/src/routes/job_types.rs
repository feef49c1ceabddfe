//! `/v1/job-types`: the tenant's own job types, next to the built-in ones.

use crate::error::{ApiError, Problem};
use crate::extract::{JsonBody, Tenant};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use jobs_domain::{ConcurrencyLimit, RateLimit, RetentionOverride, RetryStrategy, StoredJobType};
use jobs_job_types::{
    BUILTIN, DefinedType, HandlerSpec, JobTypeDefinition, NameError, SecretBox, TargetAuth,
    check_name,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_job_types))
        .routes(routes!(put_job_type, get_job_type, delete_job_type))
        .routes(routes!(rotate_secret))
}

/// The answer to a PUT: the type, and its HMAC secret when one was just made.
#[derive(Debug, Serialize, ToSchema)]
struct PutAnswer {
    #[serde(flatten)]
    job_type: JobTypeView,
    /// The type's new HMAC secret, shown this once: the target verifies
    /// `Jobs-Signature` with it. Absent when the type has no new secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// A new HMAC secret.
#[derive(Debug, Serialize, ToSchema)]
struct NewSecret {
    /// The secret, shown this once; the old one stops working at once (within 5 s everywhere).
    secret: String,
}

/// Seals a fresh secret; the plain one is for the answer alone.
fn fresh_secret(state: &AppState) -> Result<(String, Vec<u8>), ApiError> {
    let secret_box = state.secret_box.as_ref().ok_or_else(|| {
        ApiError::invalid(
            "handler.target.auth",
            "hmac is not available: the server has no JOB_TYPE_SECRETS_KEY",
        )
    })?;
    let secret = SecretBox::generate_secret();
    let sealed = secret_box.seal(&secret);
    Ok((secret, sealed))
}

fn uses_hmac(definition: &JobTypeDefinition) -> bool {
    matches!(&definition.handler, HandlerSpec::Target(target) if target.auth == TargetAuth::Hmac)
}

/// A job type as clients see it: a built-in one, or one of the tenant's.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobTypeView {
    /// The `type` jobs are submitted with.
    name: String,
    /// True for the service's own types, which no tenant can change.
    builtin: bool,
    /// What runs the type's jobs (the tenant's types).
    #[serde(skip_serializing_if = "Option::is_none")]
    handler: Option<HandlerSpec>,
    /// The JSON Schema payloads must satisfy (the tenant's types).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    payload_schema: Option<Value>,
    /// The type's `max_attempts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_attempts: Option<i32>,
    /// The type's `timeout_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<i32>,
    /// How retryable failures are retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry: Option<RetryStrategy>,
    /// How long the type's finished jobs are kept, over the defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<RetentionOverride>,
    /// At most so many accepted jobs per key value in a sliding window.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    rate_limit: Option<RateLimit>,
    /// At most so many running jobs per key value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    concurrency: Option<ConcurrencyLimit>,
    /// The default `callback_url` of its jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_url: Option<String>,
    /// When the tenant defined it.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<DateTime<Utc>>,
}

impl JobTypeView {
    fn builtin(name: &str) -> Self {
        JobTypeView {
            name: name.to_owned(),
            builtin: true,
            handler: None,
            payload_schema: None,
            max_attempts: None,
            timeout_seconds: None,
            retry: None,
            retention: None,
            rate_limit: None,
            concurrency: None,
            callback_url: None,
            created_at: None,
            updated_at: None,
        }
    }

    fn defined(stored: StoredJobType) -> Result<Self, ApiError> {
        let definition: JobTypeDefinition =
            serde_json::from_value(stored.definition).map_err(|err| {
                ApiError::Inconsistent(format!("stored job type `{}`: {err}", stored.name))
            })?;
        Ok(JobTypeView {
            name: stored.name,
            builtin: false,
            handler: Some(definition.handler),
            payload_schema: definition.payload_schema,
            max_attempts: definition.max_attempts,
            timeout_seconds: definition.timeout_seconds,
            retry: Some(definition.retry),
            retention: definition.retention,
            rate_limit: definition.rate_limit,
            concurrency: definition.concurrency,
            callback_url: definition.callback_url,
            created_at: Some(stored.created_at),
            updated_at: Some(stored.updated_at),
        })
    }
}

/// The tenant's types and the built-ins.
#[derive(Debug, Serialize, ToSchema)]
struct JobTypeList {
    /// The built-ins first, then the tenant's, by name.
    job_types: Vec<JobTypeView>,
}

fn is_builtin(name: &str) -> bool {
    BUILTIN.iter().any(|builtin| builtin.name() == name)
}

/// A name as a client gave it: 422 when no type could have it.
fn valid_name(name: &str) -> Result<(), ApiError> {
    match check_name(name) {
        Ok(()) | Err(NameError::Reserved(_)) => Ok(()),
        Err(err) => Err(ApiError::invalid("name", err.to_string())),
    }
}

/// List the job types: the built-ins and the tenant's own.
#[utoipa::path(
    get, path = "/v1/job-types", tag = "job-types",
    responses(
        (status = 200, description = "Every type the tenant can submit", body = JobTypeList),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn list_job_types(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<Json<JobTypeList>, ApiError> {
    let mut job_types: Vec<JobTypeView> = BUILTIN
        .iter()
        .map(|builtin| JobTypeView::builtin(builtin.name()))
        .collect();
    for stored in state.job_types.store().list(tenant).await? {
        job_types.push(JobTypeView::defined(stored)?);
    }
    Ok(Json(JobTypeList { job_types }))
}

/// Read one job type.
#[utoipa::path(
    get, path = "/v1/job-types/{name}", tag = "job-types",
    params(("name" = String, Path, description = "The type's name")),
    responses(
        (status = 200, description = "The job type", body = JobTypeView),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such type for this tenant", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn get_job_type(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<Json<JobTypeView>, ApiError> {
    if is_builtin(&name) {
        return Ok(Json(JobTypeView::builtin(&name)));
    }
    if check_name(&name).is_err() {
        return Err(ApiError::JobTypeNotFound);
    }
    match state.job_types.store().get(tenant, &name).await? {
        Some(stored) => Ok(Json(JobTypeView::defined(stored)?)),
        None => Err(ApiError::JobTypeNotFound),
    }
}

/// Define a job type, or replace the tenant's type of that name.
#[utoipa::path(
    put, path = "/v1/job-types/{name}", tag = "job-types",
    params(("name" = String, Path, description = "1–100 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter",
            pattern = r"^[a-z][a-z0-9._-]{0,99}$")),
    request_body = JobTypeDefinition,
    responses(
        (status = 201, description = "Defined (with its HMAC secret, shown once, for an hmac target)", body = PutAnswer),
        (status = 200, description = "Replaced (an hmac target keeps its secret)", body = PutAnswer),
        (status = 400, description = "The body is not JSON", body = Problem),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 409, description = "The name is a built-in type's", body = Problem),
        (status = 413, description = "The body is over the size limit", body = Problem),
        (status = 415, description = "The body is not `application/json`", body = Problem),
        (status = 422, description = "Invalid fields, listed in `errors`", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn put_job_type(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
    JsonBody(definition): JsonBody<JobTypeDefinition>,
) -> Result<Response, ApiError> {
    valid_name(&name)?;
    if let Err(reserved @ NameError::Reserved(_)) = check_name(&name) {
        return Err(ApiError::Conflict(reserved.to_string()));
    }
    let defined = DefinedType::new(&name, definition, &state.limits, state.secret_box.is_some())
        .map_err(ApiError::Invalid)?;
    let encoded = serde_json::to_value(&defined.definition)
        .map_err(|err| ApiError::Inconsistent(format!("encoding job type `{name}`: {err}")))?;
    // An hmac type gets a secret when it has none yet; replacing keeps it.
    let mut secret = None;
    if uses_hmac(&defined.definition) {
        let existing = state.job_types.store().get(tenant, &name).await?;
        if existing.and_then(|stored| stored.sealed_secret).is_none() {
            secret = Some(fresh_secret(&state)?);
        }
    }
    let sealed = secret.as_ref().map(|(_, sealed)| sealed.as_slice());
    let (stored, created) = state
        .job_types
        .store()
        .put(tenant, &name, &encoded, sealed)
        .await?;
    state.job_types.forget(tenant, &name);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let answer = PutAnswer {
        job_type: JobTypeView::defined(stored)?,
        secret: secret.map(|(plain, _)| plain),
    };
    Ok((status, Json(answer)).into_response())
}

/// Delete one of the tenant's job types. Its jobs that have not run fail at
/// their next attempt.
#[utoipa::path(
    delete, path = "/v1/job-types/{name}", tag = "job-types",
    params(("name" = String, Path, description = "The type's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such type for this tenant", body = Problem),
        (status = 409, description = "A built-in type, which cannot be deleted", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn delete_job_type(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if is_builtin(&name) {
        return Err(ApiError::Conflict(format!(
            "`{name}` is a built-in job type and cannot be deleted"
        )));
    }
    if check_name(&name).is_err() || !state.job_types.store().delete(tenant, &name).await? {
        return Err(ApiError::JobTypeNotFound);
    }
    state.job_types.forget(tenant, &name);
    Ok(StatusCode::NO_CONTENT)
}

/// Give an hmac job type a new secret; the old one stops verifying.
#[utoipa::path(
    post, path = "/v1/job-types/{name}/rotate-secret", tag = "job-types",
    params(("name" = String, Path, description = "The type's name")),
    responses(
        (status = 200, description = "The new secret, shown once", body = NewSecret),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 404, description = "No such type for this tenant", body = Problem),
        (status = 409, description = "The type does not sign with hmac", body = Problem),
        (status = 422, description = "The server cannot seal secrets (no JOB_TYPE_SECRETS_KEY)", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn rotate_secret(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(name): Path<String>,
) -> Result<Json<NewSecret>, ApiError> {
    if check_name(&name).is_err() {
        return Err(ApiError::JobTypeNotFound);
    }
    let stored = state
        .job_types
        .store()
        .get(tenant, &name)
        .await?
        .ok_or(ApiError::JobTypeNotFound)?;
    let definition: JobTypeDefinition = serde_json::from_value(stored.definition)
        .map_err(|err| ApiError::Inconsistent(format!("stored job type `{name}`: {err}")))?;
    if !uses_hmac(&definition) {
        return Err(ApiError::Conflict(format!(
            "job type `{name}` does not sign its requests with hmac"
        )));
    }
    let (secret, sealed) = fresh_secret(&state)?;
    if !state
        .job_types
        .store()
        .set_secret(tenant, &name, &sealed)
        .await?
    {
        return Err(ApiError::JobTypeNotFound);
    }
    state.job_types.forget(tenant, &name);
    Ok(Json(NewSecret { secret }))
}

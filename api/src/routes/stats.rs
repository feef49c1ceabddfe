//! `/v1/stats`: the tenant's jobs in numbers, for the dashboard's overview.

use crate::error::{ApiError, Problem};
use crate::extract::Tenant;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use jobs_domain::JobStats;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(job_stats))
}

/// Count the tenant's jobs: by status, by type and status, completed and
/// failed per minute over the last hour, and the oldest due pending job.
#[utoipa::path(
    get, path = "/v1/stats", tag = "jobs",
    responses(
        (status = 200, description = "The tenant's job stats", body = JobStats),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn job_stats(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<Json<JobStats>, ApiError> {
    Ok(Json(state.jobs.stats(tenant).await?))
}

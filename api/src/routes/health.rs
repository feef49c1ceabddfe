//! Liveness and readiness probes.

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The probe routes; they need no API key.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 204, description = "Up")))]
async fn healthz() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The database answers, so requests can be served.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses((status = 204, description = "Ready"), (status = 503, body = Problem))
)]
async fn readyz(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    sqlx::query("select 1")
        .execute(state.jobs.pool())
        .await
        .map_err(|err| {
            tracing::debug!(error = %err, "readiness check failed");
            ApiError::Unavailable
        })?;
    Ok(StatusCode::NO_CONTENT)
}

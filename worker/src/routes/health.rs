//! Liveness and readiness probes.

use crate::error::WorkerError;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

/// The probe routes; they need no token.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The database answers, so deliveries can be processed.
async fn readyz(State(state): State<AppState>) -> Result<StatusCode, WorkerError> {
    sqlx::query("select 1")
        .execute(state.jobs.pool())
        .await
        .map_err(|err| {
            tracing::debug!(error = %err, "readiness check failed");
            WorkerError::Unavailable("the database")
        })?;
    Ok(StatusCode::NO_CONTENT)
}

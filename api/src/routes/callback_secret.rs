//! `/v1/callback-secret`: the tenant's secret that signs its completion callbacks.

use crate::error::{ApiError, Problem};
use crate::extract::Tenant;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jobs_job_types::SecretBox;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_callback_secret))
}

/// The tenant's callback signing secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
struct CallbackSecret {
    /// Verifies `Jobs-Signature` on callbacks; shown this once. A rotation
    /// replaces it at once: callbacks sent from then on use the new one.
    secret: String,
}

/// Create, or rotate, the secret that signs this tenant's completion callbacks.
#[utoipa::path(
    post, path = "/v1/callback-secret", tag = "callbacks",
    responses(
        (status = 201, description = "The tenant's first callback secret, shown once", body = CallbackSecret),
        (status = 200, description = "A new secret replacing the old one, shown once", body = CallbackSecret),
        (status = 401, description = "No valid API key", body = Problem),
        (status = 409, description = "The server cannot seal secrets (no JOB_TYPE_SECRETS_KEY)", body = Problem),
        (status = 429, description = "The tenant is over its request rate", body = Problem),
        (status = 503, description = "The database is unavailable", body = Problem),
    ),
    security(("api_key" = []))
)]
async fn create_callback_secret(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
) -> Result<(StatusCode, Json<CallbackSecret>), ApiError> {
    let secret_box = state.secret_box.as_ref().ok_or_else(|| {
        ApiError::Conflict(
            "callbacks are not available: the server has no JOB_TYPE_SECRETS_KEY".to_owned(),
        )
    })?;
    let secret = SecretBox::generate_secret();
    let created = state
        .callback_secrets
        .put(tenant, &secret_box.seal(&secret))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(CallbackSecret { secret })))
}

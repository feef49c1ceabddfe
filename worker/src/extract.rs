//! Extractors whose rejections are [`WorkerError`]s, so every refusal is problem+json.

use crate::error::WorkerError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};

/// Proof that the push carried a valid OIDC token, or that verification is off.
#[derive(Debug, Clone, Copy)]
pub struct AuthenticatedPush;

impl FromRequestParts<AppState> for AuthenticatedPush {
    type Rejection = WorkerError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WorkerError> {
        let Some(verifier) = &state.push_auth else {
            return Ok(AuthenticatedPush);
        };
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        verifier.verify(authorization).await.map_err(|err| {
            tracing::warn!(error = %err, "push refused");
            WorkerError::from(err)
        })?;
        Ok(AuthenticatedPush)
    }
}

/// The raw push body, 413 over the limit. It is not parsed here: a body that
/// is no envelope is acked by the route, not refused.
#[derive(Debug, Clone)]
pub struct PushBody(pub Bytes);

impl FromRequest<AppState> for PushBody {
    type Rejection = WorkerError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WorkerError> {
        Bytes::from_request(req, state)
            .await
            .map(PushBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    WorkerError::PayloadTooLarge(state.max_body_bytes)
                } else {
                    WorkerError::Unreadable(rejection.body_text())
                }
            })
    }
}

//! `POST /pubsub/push`: deliveries of the `jobs` subscription.

use crate::ack::Ack;
use crate::delivery::deliver;
use crate::error::WorkerError;
use crate::extract::{AuthenticatedPush, PushBody};
use crate::push_envelope::PushEnvelope;
use crate::routes::counted;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use jobs_domain::job_message::PUSH_PATH;
use tracing::Instrument;
use tracing::field::{Empty, display};

/// The push route.
pub fn router() -> Router<AppState> {
    Router::new().route(PUSH_PATH, post(push))
}

/// Runs the job a push names. 2xx acks; non-2xx makes Pub/Sub redeliver.
async fn push(
    State(state): State<AppState>,
    _: AuthenticatedPush,
    PushBody(body): PushBody,
) -> Result<Ack, WorkerError> {
    let metrics = state.metrics.clone();
    counted(&metrics, "jobs", answer_push(state, &body).await)
}

async fn answer_push(state: AppState, body: &[u8]) -> Result<Ack, WorkerError> {
    let envelope = match PushEnvelope::from_slice(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            // Redelivering the same bytes cannot help, so ack and say so.
            tracing::warn!(error = %err, "push body is not an envelope; acked");
            return Ok(Ack::malformed());
        }
    };
    let span = tracing::info_span!(
        "delivery",
        message_id = %envelope.message.message_id,
        delivery_attempt = envelope.delivery_attempt,
        subscription = %envelope.subscription,
        job_id = Empty,
        job_type = Empty,
        attempt = Empty,
    );
    async move {
        let message = match envelope.job_message() {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "push names no job; acked");
                return Ok(Ack::malformed());
            }
        };
        tracing::Span::current().record("job_id", display(message.job_id));
        deliver(&state, message).await
    }
    .instrument(span)
    .await
}

//! `POST /pubsub/dead-letter`: deliveries of the dead-letter subscription,
//! for messages Pub/Sub gave up on. Their jobs are marked failed.

use crate::ack::{Ack, AckOutcome};
use crate::error::WorkerError;
use crate::extract::{AuthenticatedPush, PushBody};
use crate::push_envelope::PushEnvelope;
use crate::routes::counted;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use jobs_domain::StoreError;
use jobs_domain::job_message::DEAD_LETTER_PATH;
use tracing::Instrument;
use tracing::field::{Empty, display};

/// The dead-letter route.
pub fn router() -> Router<AppState> {
    Router::new().route(DEAD_LETTER_PATH, post(dead_letter))
}

/// Fails the job a dead-lettered message names. Acks everything but a
/// database failure, which may pass on redelivery.
async fn dead_letter(
    State(state): State<AppState>,
    _: AuthenticatedPush,
    PushBody(body): PushBody,
) -> Result<Ack, WorkerError> {
    let metrics = state.metrics.clone();
    counted(
        &metrics,
        "dead_letter",
        answer_dead_letter(state, &body).await,
    )
}

async fn answer_dead_letter(state: AppState, body: &[u8]) -> Result<Ack, WorkerError> {
    let envelope = match PushEnvelope::from_slice(body) {
        Ok(envelope) => envelope,
        Err(err) => {
            tracing::warn!(error = %err, "dead-letter body is not an envelope; acked");
            return Ok(Ack::malformed());
        }
    };
    let deliveries = envelope.dead_letter_delivery_count();
    let span = tracing::info_span!(
        "dead_letter",
        message_id = %envelope.message.message_id,
        deliveries,
        job_id = Empty,
    );
    async move {
        let message = match envelope.job_message() {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, "dead-lettered message names no job; acked");
                return Ok(Ack::malformed());
            }
        };
        let id = message.job_id;
        tracing::Span::current().record("job_id", display(id));
        let detail = match deliveries {
            Some(count) => format!("dead-lettered after {count} delivery attempts"),
            None => "dead-lettered by Pub/Sub".to_owned(),
        };
        match state.jobs.dead_letter(id, &detail).await {
            Ok(job) => {
                tracing::info!(status = %job.status, "dead-letter recorded");
                Ok(Ack::job(AckOutcome::DeadLettered, id))
            }
            Err(StoreError::NotFound) => {
                tracing::warn!("dead-lettered message names no job; acked");
                Ok(Ack::job(AckOutcome::NotFound, id))
            }
            Err(StoreError::Transition(refused)) => {
                // The state machine refused; redelivery would be refused the same way.
                tracing::error!(error = %refused, "dead-letter refused; acked");
                Ok(Ack::job(AckOutcome::DeadLettered, id))
            }
            Err(err) => Err(err.into()),
        }
    }
    .instrument(span)
    .await
}

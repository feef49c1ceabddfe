//! The HTTP surface: the push endpoints and the probes, merged here.

mod dead_letter;
mod health;
mod metrics;
mod push;

use crate::ack::Ack;
use crate::error::WorkerError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use jobs_domain::Metrics;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

/// The whole application, ready to serve.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(push::router())
        .merge(dead_letter::router())
        .merge(health::router())
        .merge(metrics::router())
        .fallback(|| async { WorkerError::NoRoute })
        .method_not_allowed_fallback(|| async { WorkerError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.max_body_bytes as usize))
        // A nack is a 409 or 503 by design, and the delivery code has already
        // said why; at the default ERROR level every retry would look like an outage.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .with_state(state)
}

/// Counts how a delivery on `subscription` was answered (the ack's outcome,
/// or the problem type of the nack) and passes the answer on.
fn counted(
    metrics: &Metrics,
    subscription: &'static str,
    answer: Result<Ack, WorkerError>,
) -> Result<Ack, WorkerError> {
    let name = match &answer {
        Ok(ack) => ack.outcome.as_str(),
        Err(err) => err.slug(),
    };
    metrics.delivery_answered(subscription, name);
    answer
}

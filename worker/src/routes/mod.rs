//! The HTTP surface: the push endpoints and the probes, merged here.

mod dead_letter;
mod health;
mod metrics;
mod push;

use crate::answer::Answer;
use crate::error::WorkerError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn;
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
        .layer(from_fn(jobs_problem::log_errors))
        // A nack is a 409 or 503 by design, and the delivery code has already
        // said why; at the default ERROR level every retry would look like an outage.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .with_state(state)
}

/// Counts how a delivery on `subscription` was answered and passes the answer on.
fn counted(state: &AppState, subscription: &'static str, answer: Answer) -> Answer {
    state
        .metrics
        .delivery_answered(subscription, answer.label());
    answer
}

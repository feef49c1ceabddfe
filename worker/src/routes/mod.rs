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
        .layer(jobs_runtime::trace_context::http_layer())
        .with_state(state)
}

/// Counts how a delivery on `subscription` was answered and passes the answer on.
fn counted(state: &AppState, subscription: &'static str, answer: Answer) -> Answer {
    state
        .metrics
        .delivery_answered(subscription, answer.label());
    answer
}

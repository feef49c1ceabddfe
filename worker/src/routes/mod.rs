//! The HTTP surface: the push endpoints and the probes, merged here.

mod dead_letter;
mod health;
mod push;

use crate::error::WorkerError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

/// The whole application, ready to serve.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(push::router())
        .merge(dead_letter::router())
        .merge(health::router())
        .fallback(|| async { WorkerError::NoRoute })
        .method_not_allowed_fallback(|| async { WorkerError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.max_body_bytes as usize))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

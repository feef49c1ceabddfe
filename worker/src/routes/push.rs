//! `POST /pubsub/push`: deliveries of the `jobs` subscription.

use crate::answer::Answer;
use crate::extract::{AuthenticatedPush, PushBody};
use crate::state::AppState;
use crate::{delivery, routes::counted};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use jobs_domain::job_message::PUSH_PATH;

/// The push route.
pub fn router() -> Router<AppState> {
    Router::new().route(PUSH_PATH, post(push))
}

/// Runs the job a push names. 2xx acks; non-2xx makes Pub/Sub redeliver.
async fn push(
    State(state): State<AppState>,
    _: AuthenticatedPush,
    PushBody(body): PushBody,
) -> Answer {
    counted(&state, "jobs", delivery::push(&state, &body).await)
}

//! `POST /pubsub/dead-letter`: deliveries of the dead-letter subscription,
//! for messages Pub/Sub gave up on.

use crate::answer::Answer;
use crate::extract::{AuthenticatedPush, PushBody};
use crate::state::AppState;
use crate::{delivery, routes::counted};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use jobs_domain::job_message::DEAD_LETTER_PATH;

/// The dead-letter route.
pub fn router() -> Router<AppState> {
    Router::new().route(DEAD_LETTER_PATH, post(dead_letter))
}

/// Fails the job a dead-lettered message names (see [`delivery::dead_letter`]).
async fn dead_letter(
    State(state): State<AppState>,
    _: AuthenticatedPush,
    PushBody(body): PushBody,
) -> Answer {
    counted(
        &state,
        "dead_letter",
        delivery::dead_letter(&state, &body).await,
    )
}

//! The task behind each subscription: wakes when a backoff ends or a lease
//! expires, and on push subscriptions sends push requests with bounded concurrency.

use crate::broker::Broker;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Runs until the subscription is deleted or the emulator stops.
pub async fn run(
    broker: Arc<Broker>,
    subscription: String,
    stop: CancellationToken,
    mut changes: watch::Receiver<()>,
) {
    let capacity = broker.push_concurrency();
    let mut in_flight = JoinSet::new();
    loop {
        changes.borrow_and_update();
        let free = capacity.saturating_sub(in_flight.len());
        let Some(step) = broker.dispatch(&subscription, free) else {
            break;
        };
        for push in step.pushes {
            let client = broker.push_client().clone();
            in_flight.spawn(async move {
                let outcome = client.deliver(&push).await;
                (push, outcome)
            });
        }
        tokio::select! {
            () = stop.cancelled() => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((push, outcome)) = joined {
                    debug!(%subscription, message_id = %push.message_id, ?outcome, "push answered");
                    broker.settle_push(&subscription, &push.ack_id, &outcome);
                }
            }
            () = wake_at(step.next_wake) => {}
        }
    }
    debug!(%subscription, "dispatcher stopped");
}

async fn wake_at(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

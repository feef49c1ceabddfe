//! Unary pull: lease ready messages, waiting a little for some to arrive.

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::proto::ReceivedMessage;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

/// How long a pull without `return_immediately` waits for a first message.
const PULL_WAIT: Duration = Duration::from_secs(1);

/// Leases up to `max_messages`; unless `return_immediately`, waits up to
/// [`PULL_WAIT`] for a message when none is ready, as Pub/Sub holds a pull open.
pub async fn pull(
    broker: &Broker,
    subscription: &str,
    max_messages: i32,
    return_immediately: bool,
) -> Result<Vec<ReceivedMessage>> {
    let max = usize::try_from(max_messages)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "max_messages must be greater than 0, got {max_messages}"
            ))
        })?;
    let ack_deadline = broker.ack_deadline(subscription)?;
    let mut changes = broker.watch(subscription)?;
    let give_up = Instant::now() + PULL_WAIT;
    loop {
        changes.borrow_and_update();
        let received = broker.pull(subscription, max, ack_deadline)?;
        if !received.is_empty() || return_immediately {
            return Ok(received);
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Err(Error::not_found(subscription));
                }
            }
            () = sleep_until(give_up) => return Ok(Vec::new()),
            () = broker.shutdown_token().cancelled() => return Ok(Vec::new()),
        }
    }
}

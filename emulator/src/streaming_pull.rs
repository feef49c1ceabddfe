//! StreamingPull: one bidirectional stream that delivers messages as they
//! become ready, within the client's flow-control limit, and takes acks and
//! deadline changes from the client.

use crate::broker::Broker;
use crate::error::Error;
use crate::names;
use crate::proto::{StreamingPullRequest, StreamingPullResponse, streaming_pull_response};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::debug;

/// The official clients' default when a stream sets no flow-control limit.
const DEFAULT_MAX_OUTSTANDING: usize = 1000;
/// The most messages in one response.
const MAX_BATCH: usize = 1000;

/// The stream of responses handed to tonic.
pub type ResponseStream = ReceiverStream<Result<StreamingPullResponse, Status>>;

/// Reads the first request, checks it, and starts the stream's task.
pub async fn open(
    broker: Arc<Broker>,
    mut inbound: Streaming<StreamingPullRequest>,
) -> Result<ResponseStream, Status> {
    let first = inbound
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("The stream ended before its first request"))?;
    let subscription = first.subscription.clone();
    names::parse_subscription(&subscription).map_err(Error::from)?;
    let ack_deadline = stream_ack_deadline(&broker, first.stream_ack_deadline_seconds)?;
    let changes = broker.watch(&subscription)?;
    let properties = broker.get_subscription(&subscription).map(|sub| {
        streaming_pull_response::SubscriptionProperties {
            exactly_once_delivery_enabled: false,
            message_ordering_enabled: sub.enable_message_ordering,
        }
    })?;
    let max_outstanding = usize::try_from(first.max_outstanding_messages)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_OUTSTANDING);
    let mut stream = Stream {
        broker,
        subscription,
        ack_deadline,
        max_outstanding,
        properties,
        outstanding: HashSet::new(),
    };
    stream.apply(&first)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let end = stream.run(inbound, changes, &tx).await;
        if let Err(status) = end {
            // The client may already be gone; then nobody needs the status.
            let _ = tx.send(Err(status)).await;
        }
        debug!(subscription = %stream.subscription, "streaming pull closed");
    });
    Ok(ReceiverStream::new(rx))
}

/// Pub/Sub requires a stream ack deadline between 10 and 600 seconds.
fn stream_ack_deadline(broker: &Broker, seconds: i32) -> Result<Duration, Status> {
    let seconds = u64::try_from(seconds)
        .ok()
        .filter(|s| (10..=600).contains(s))
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "stream_ack_deadline_seconds must be between 10 and 600, got {seconds}"
            ))
        })?;
    Ok(broker.time_scale().shrink(Duration::from_secs(seconds)))
}

struct Stream {
    broker: Arc<Broker>,
    subscription: String,
    ack_deadline: Duration,
    max_outstanding: usize,
    properties: streaming_pull_response::SubscriptionProperties,
    /// Ack ids delivered on this stream and not settled yet, for flow control.
    outstanding: HashSet<String>,
}

impl Stream {
    async fn run(
        &mut self,
        mut inbound: Streaming<StreamingPullRequest>,
        mut changes: tokio::sync::watch::Receiver<()>,
        tx: &mpsc::Sender<Result<StreamingPullResponse, Status>>,
    ) -> Result<(), Status> {
        let shutdown = self.broker.shutdown_token().clone();
        loop {
            changes.borrow_and_update();
            self.broker
                .retain_leased(&self.subscription, &mut self.outstanding);
            let room = self
                .max_outstanding
                .saturating_sub(self.outstanding.len())
                .min(MAX_BATCH);
            if room > 0 {
                let received = self
                    .broker
                    .pull(&self.subscription, room, self.ack_deadline)?;
                if !received.is_empty() {
                    self.outstanding
                        .extend(received.iter().map(|m| m.ack_id.clone()));
                    let response = StreamingPullResponse {
                        received_messages: received,
                        subscription_properties: Some(self.properties),
                        ..Default::default()
                    };
                    if tx.send(Ok(response)).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    return Err(Status::unavailable("The Pub/Sub emulator is shutting down"));
                }
                () = tx.closed() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(Error::not_found(&self.subscription).into());
                    }
                }
                request = inbound.message() => match request {
                    Ok(Some(request)) => self.apply(&request)?,
                    Ok(None) | Err(_) => return Ok(()),
                },
            }
        }
    }

    /// Applies the acks, deadline changes and stream deadline a request carries.
    fn apply(&mut self, request: &StreamingPullRequest) -> Result<(), Status> {
        if request.modify_deadline_ack_ids.len() != request.modify_deadline_seconds.len() {
            return Err(Status::invalid_argument(
                "modify_deadline_seconds and modify_deadline_ack_ids must have the same length",
            ));
        }
        if !request.ack_ids.is_empty() {
            self.broker
                .acknowledge(&self.subscription, &request.ack_ids)?;
        }
        for (ack_id, &seconds) in request
            .modify_deadline_ack_ids
            .iter()
            .zip(&request.modify_deadline_seconds)
        {
            self.broker.modify_ack_deadline(
                &self.subscription,
                std::slice::from_ref(ack_id),
                seconds,
            )?;
        }
        if request.stream_ack_deadline_seconds != 0 {
            self.ack_deadline =
                stream_ack_deadline(&self.broker, request.stream_ack_deadline_seconds)?;
        }
        Ok(())
    }
}

//! Pull mode (`WORKER_MODE=pull`): the worker streams the `jobs` messages
//! from a pull subscription with the official subscriber instead of
//! answering pushes. Each message goes through the push's own
//! [`delivery::deliver`] and its [`Answer`] means the same: an ack acks, a
//! nack has Pub/Sub redeliver after the subscription's backoff.
//!
//! At most `PULL_CONCURRENCY` deliveries run at once, and a slot is taken
//! before the next message is asked for, so the stream never hands out more
//! than that; Pub/Sub sends up to `PULL_MAX_OUTSTANDING_MESSAGES` ahead,
//! which the subscriber holds, extending their ack deadlines (as it does for
//! the ones running), until a slot frees.

use crate::answer::{AckReason, Answer, NackReason};
use crate::delivery;
use crate::push_envelope::job_message;
use crate::settings::PullOptions;
use crate::state::AppState;
use google_cloud_pubsub::client::Subscriber;
use google_cloud_pubsub::model::Message;
use google_cloud_pubsub::subscriber::handler::Handler;
use google_cloud_pubsub::subscriber::{MessageStream, ShutdownBehavior};
use jobs_runtime::server::Stopping;
use jobs_runtime::trace_context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::field::{Empty, display};
use tracing::{Instrument, Span};

/// The wait before opening a stream again after it failed, doubling up to [`REOPEN_MAX`].
const REOPEN_FIRST: Duration = Duration::from_secs(1);
/// The longest wait before opening a failed stream again.
const REOPEN_MAX: Duration = Duration::from_secs(30);
/// Beyond the runs a pulled message may wait for and its own, the time its
/// claim and outcome may take before the subscriber stops extending its deadline.
const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// Pulls the `jobs` messages and runs their jobs until the server stops.
#[derive(Debug)]
pub struct Puller {
    state: AppState,
    subscriber: Subscriber,
    /// The subscription's full resource name.
    subscription: Arc<str>,
    options: PullOptions,
    /// How long the subscriber keeps extending a message's ack deadline.
    max_lease: Duration,
    /// Fired once [`Puller::run`] has returned.
    finished: CancellationToken,
}

impl Puller {
    /// A puller of `subscription` (a full resource name) for `state`'s worker.
    pub fn new(
        state: AppState,
        subscriber: Subscriber,
        subscription: String,
        options: PullOptions,
    ) -> Self {
        // A held message waits for at most the runs of the messages ahead of
        // it, each capped by the worker's timeout, then runs itself.
        let rounds = options.max_outstanding.div_ceil(
            u32::try_from(options.concurrency)
                .unwrap_or(u32::MAX)
                .max(1),
        ) + 1;
        let max_lease = state.job_max_timeout * rounds + LEASE_MARGIN;
        Puller {
            state,
            subscriber,
            subscription: subscription.into(),
            options,
            max_lease,
            finished: CancellationToken::new(),
        }
    }

    /// Resolves once the puller has stopped: no stream open, every delivery
    /// it started answered and the answers sent to Pub/Sub. For the server's
    /// stop hooks, which bound it by the shutdown grace.
    pub fn finished(&self) -> impl Future<Output = ()> + Send + 'static {
        self.finished.clone().cancelled_owned()
    }

    /// Pulls until `stopping` resolves, then stops asking for messages, lets
    /// the deliveries it started finish and nacks the messages it holds but
    /// did not start, so Pub/Sub redelivers them elsewhere at once.
    pub async fn run(self, stopping: Stopping) {
        let _finished = self.finished.clone().drop_guard();
        let stop = CancellationToken::new();
        tokio::spawn({
            let stop = stop.clone();
            async move {
                stopping.await;
                stop.cancel();
            }
        });
        let slots = Arc::new(Semaphore::new(self.options.concurrency));
        // The deliveries, and the streams' wind-downs, still running.
        let running = TaskTracker::new();
        let mut reopen = REOPEN_FIRST;
        tracing::info!(subscription = %self.subscription, concurrency = self.options.concurrency, "pulling");
        while !stop.is_cancelled() {
            let mut stream = self.open();
            let wind_down = stream.shutdown_token();
            let pulled = self.pull(&mut stream, &slots, &running, &stop).await;
            // Stops the stream; the deliveries it handed out still answer
            // through it, and the messages it holds beyond them are nacked.
            running.spawn(async move { wind_down.shutdown().await });
            if pulled {
                reopen = REOPEN_FIRST;
            }
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(reopen) => {}
            }
            reopen = (reopen * 2).min(REOPEN_MAX);
        }
        running.close();
        running.wait().await;
        tracing::info!(subscription = %self.subscription, "stopped pulling");
    }

    /// A new stream of the subscription.
    fn open(&self) -> MessageStream {
        self.subscriber
            .subscribe(self.subscription.as_ref())
            .set_max_outstanding_messages(i64::from(self.options.max_outstanding))
            .set_max_lease_extension(self.options.ack_deadline)
            .set_max_lease(self.max_lease)
            .set_shutdown_behavior(ShutdownBehavior::WaitForProcessing)
            .build()
    }

    /// Takes a slot, then the stream's next message, and starts its
    /// delivery, until `stop` fires or the stream fails. Returns whether it
    /// got a message at all, so a stream that fails at once backs off.
    async fn pull(
        &self,
        stream: &mut MessageStream,
        slots: &Arc<Semaphore>,
        running: &TaskTracker,
        stop: &CancellationToken,
    ) -> bool {
        let mut pulled = false;
        loop {
            let slot = tokio::select! {
                biased;
                () = stop.cancelled() => return pulled,
                slot = Arc::clone(slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return pulled,
                },
            };
            let next = tokio::select! {
                biased;
                () = stop.cancelled() => return pulled,
                next = stream.next() => next,
            };
            match next {
                Some(Ok((message, handler))) => {
                    pulled = true;
                    let state = self.state.clone();
                    let subscription = Arc::clone(&self.subscription);
                    running.spawn(answer(state, subscription, message, handler, slot));
                }
                Some(Err(err)) => {
                    // Transient errors the subscriber retries itself; this one it gave up on.
                    tracing::error!(subscription = %self.subscription, error = %err, "the pull stream failed; opening it again");
                    return pulled;
                }
                None => {
                    tracing::warn!(subscription = %self.subscription, "the pull stream ended; opening it again");
                    return pulled;
                }
            }
        }
    }
}

/// Delivers one pulled message, counts the answer as a push's, and acks or
/// nacks it; the slot frees when this returns.
async fn answer(
    state: AppState,
    subscription: Arc<str>,
    message: Message,
    handler: Handler,
    _slot: OwnedSemaphorePermit,
) {
    let span = tracing::info_span!(
        "delivery",
        message_id = %message.message_id,
        delivery_attempt = handler.delivery_attempt(),
        subscription = %subscription,
        job_id = Empty,
        job_type = Empty,
        attempt = Empty,
    );
    // A pulled job continues its submit's trace, as a pushed one does.
    trace_context::continue_from_message(&span, Some(&message.attributes));
    async move {
        let answer = match job_message(&message.data, |name| {
            message.attributes.get(name).map(String::as_str)
        }) {
            Ok(job) => {
                Span::current().record("job_id", display(job.job_id));
                delivery::deliver(&state, job).await
            }
            Err(err) => {
                tracing::warn!(error = %err, "pulled message names no job; acked");
                Answer::Ack(AckReason::Malformed, None)
            }
        };
        let label = answer.label();
        // Counted under the push's subscription label, so both modes add up alike.
        state.metrics.delivery_answered("jobs", label);
        match answer {
            Answer::Ack(..) => handler.ack(),
            Answer::Nack(NackReason::Internal(detail)) => {
                // What the push's middleware logs, once, for a 500.
                tracing::error!(%detail, "delivery failed; nacked");
                handler.nack();
            }
            Answer::Nack(_) => {
                tracing::debug!(answer = label, "nacked");
                handler.nack();
            }
        }
    }
    .instrument(span)
    .await;
}

//! The in-memory Pub/Sub state: topics, subscriptions, their backlogs, and every
//! delivery decision (lease, ack, nack, redelivery, dead-lettering).

use crate::backoff::redelivery_delay;
use crate::dead_letter;
use crate::dispatcher;
use crate::error::{Error, Result};
use crate::names::{self, DELETED_TOPIC};
use crate::proto::{PubsubMessage, PushConfig, ReceivedMessage, Subscription, Topic};
use crate::push::{PushClient, PushOutcome, PushRequest};
use crate::push_envelope::push_body;
use crate::queue::{Delivery, Queue};
use crate::resources::{self, MAX_ACK_DEADLINE_SECONDS};
use crate::stats::{Stats, SubscriptionStats};
use crate::time_scale::TimeScale;
use crate::wire_time;
use axum::http::Uri;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The emulator's topics and subscriptions behind one lock.
#[derive(Debug)]
pub struct Broker {
    state: Mutex<State>,
    time_scale: TimeScale,
    push_concurrency: usize,
    push_client: PushClient,
    shutdown: CancellationToken,
}

#[derive(Debug, Default)]
struct State {
    topics: BTreeMap<String, TopicEntry>,
    subscriptions: BTreeMap<String, SubscriptionEntry>,
    next_message_id: u64,
    next_ack_id: u64,
    published: u64,
    counters: BTreeMap<String, SubscriptionStats>,
}

#[derive(Debug)]
struct TopicEntry {
    topic: Topic,
    subscriptions: BTreeSet<String>,
}

#[derive(Debug)]
struct SubscriptionEntry {
    subscription: Subscription,
    queue: Queue,
    /// Bumped on every change to the backlog, so pullers and the dispatcher look again.
    changes: watch::Sender<()>,
    /// Stops the subscription's dispatcher when it is deleted.
    stop: CancellationToken,
}

/// What a subscription's dispatcher does next.
#[derive(Debug)]
pub struct DispatchStep {
    /// Push requests to start now.
    pub pushes: Vec<PushRequest>,
    /// When a backoff ends or a lease expires, if ever.
    pub next_wake: Option<Instant>,
}

/// One page of a list call.
#[derive(Debug)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl Broker {
    /// An empty broker; `shutdown` stops its dispatchers and open streams.
    pub fn new(
        time_scale: TimeScale,
        push_concurrency: usize,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            state: Mutex::default(),
            time_scale,
            push_concurrency: push_concurrency.max(1),
            push_client: PushClient::default(),
            shutdown,
        }
    }

    /// The factor that divides ack deadlines and backoffs.
    pub fn time_scale(&self) -> TimeScale {
        self.time_scale
    }

    /// Push requests in flight per subscription.
    pub fn push_concurrency(&self) -> usize {
        self.push_concurrency
    }

    /// The client push requests go through.
    pub fn push_client(&self) -> &PushClient {
        &self.push_client
    }

    /// Cancelled when the emulator shuts down.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A duration in seconds as it passes in the emulator.
    fn scaled_seconds(&self, seconds: i32) -> Duration {
        self.time_scale
            .shrink(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
    }

    /// Creates a topic.
    pub fn create_topic(&self, topic: Topic) -> Result<Topic> {
        let topic = resources::normalize_topic(topic)?;
        let mut state = self.lock();
        if state.topics.contains_key(&topic.name) {
            return Err(Error::already_exists(&topic.name));
        }
        debug!(topic = %topic.name, "topic created");
        state.topics.insert(
            topic.name.clone(),
            TopicEntry {
                topic: topic.clone(),
                subscriptions: BTreeSet::new(),
            },
        );
        Ok(topic)
    }

    /// Returns a topic.
    pub fn get_topic(&self, name: &str) -> Result<Topic> {
        names::parse_topic(name)?;
        let state = self.lock();
        state
            .topics
            .get(name)
            .map(|entry| entry.topic.clone())
            .ok_or_else(|| Error::not_found(name))
    }

    /// Lists a project's topics by name.
    pub fn list_topics(
        &self,
        project: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<Topic>> {
        let prefix = format!("projects/{}/topics/", names::parse_project(project)?);
        let state = self.lock();
        let topics = state
            .topics
            .range(prefix.clone()..)
            .take_while(|(name, _)| name.starts_with(&prefix))
            .map(|(name, entry)| (name.clone(), entry.topic.clone()));
        Ok(paginate(topics, page_size, page_token))
    }

    /// Lists the names of a topic's subscriptions.
    pub fn list_topic_subscriptions(
        &self,
        topic: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<String>> {
        names::parse_topic(topic)?;
        let state = self.lock();
        let entry = state
            .topics
            .get(topic)
            .ok_or_else(|| Error::not_found(topic))?;
        let names = entry
            .subscriptions
            .iter()
            .map(|name| (name.clone(), name.clone()));
        Ok(paginate(names, page_size, page_token))
    }

    /// Deletes a topic; its subscriptions stay, attached to `_deleted-topic_`.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        names::parse_topic(name)?;
        let mut state = self.lock();
        let entry = state
            .topics
            .remove(name)
            .ok_or_else(|| Error::not_found(name))?;
        for subscription in &entry.subscriptions {
            if let Some(sub) = state.subscriptions.get_mut(subscription) {
                DELETED_TOPIC.clone_into(&mut sub.subscription.topic);
            }
        }
        debug!(topic = %name, "topic deleted");
        Ok(())
    }

    /// Publishes messages to every subscription of a topic; returns their ids.
    pub fn publish(&self, topic: &str, messages: Vec<PubsubMessage>) -> Result<Vec<String>> {
        names::parse_topic(topic)?;
        if messages.is_empty() {
            return Err(Error::InvalidArgument(
                "The request contains no messages".to_owned(),
            ));
        }
        if messages
            .iter()
            .any(|m| m.data.is_empty() && m.attributes.is_empty())
        {
            return Err(Error::InvalidArgument(
                "Some messages are empty: each message must contain non-empty data, or at least one attribute"
                    .to_owned(),
            ));
        }
        self.lock().publish(topic, messages)
    }

    /// Creates a subscription and starts its dispatcher.
    pub fn create_subscription(
        self: &Arc<Self>,
        subscription: Subscription,
    ) -> Result<Subscription> {
        let subscription = resources::normalize_subscription(subscription)?;
        let mut state = self.lock();
        let name = subscription.name.clone();
        if state.subscriptions.contains_key(&name) {
            return Err(Error::already_exists(&name));
        }
        state.check_references(&subscription)?;
        let (changes, watcher) = watch::channel(());
        let stop = self.shutdown.child_token();
        if let Some(topic) = state.topics.get_mut(&subscription.topic) {
            topic.subscriptions.insert(name.clone());
        }
        state.counters.entry(name.clone()).or_default();
        state.subscriptions.insert(
            name.clone(),
            SubscriptionEntry {
                subscription: subscription.clone(),
                queue: Queue::default(),
                changes,
                stop: stop.clone(),
            },
        );
        debug!(subscription = %name, topic = %subscription.topic, push = is_push(&subscription), "subscription created");
        tokio::spawn(dispatcher::run(Arc::clone(self), name, stop, watcher));
        Ok(subscription)
    }

    /// Returns a subscription.
    pub fn get_subscription(&self, name: &str) -> Result<Subscription> {
        names::parse_subscription(name)?;
        let state = self.lock();
        state
            .subscriptions
            .get(name)
            .map(|entry| entry.subscription.clone())
            .ok_or_else(|| Error::not_found(name))
    }

    /// Lists a project's subscriptions by name.
    pub fn list_subscriptions(
        &self,
        project: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Page<Subscription>> {
        let prefix = format!("projects/{}/subscriptions/", names::parse_project(project)?);
        let state = self.lock();
        let subscriptions = state
            .subscriptions
            .range(prefix.clone()..)
            .take_while(|(name, _)| name.starts_with(&prefix))
            .map(|(name, entry)| (name.clone(), entry.subscription.clone()));
        Ok(paginate(subscriptions, page_size, page_token))
    }

    /// Changes the fields of a subscription named by `paths` (snake_case).
    pub fn update_subscription(
        &self,
        update: Subscription,
        paths: &[String],
    ) -> Result<Subscription> {
        let name = update.name.clone();
        names::parse_subscription(&name)?;
        let mut state = self.lock();
        let current = state
            .subscriptions
            .get(&name)
            .map(|entry| entry.subscription.clone())
            .ok_or_else(|| Error::not_found(&name))?;
        let next = resources::apply_subscription_update(&current, update, paths)?;
        state.check_references(&next)?;
        state.replace_subscription(next.clone());
        debug!(subscription = %name, ?paths, "subscription updated");
        Ok(next)
    }

    /// Switches a subscription between push (an endpoint) and pull (no endpoint).
    pub fn modify_push_config(&self, name: &str, push_config: Option<PushConfig>) -> Result<()> {
        names::parse_subscription(name)?;
        let push_config = push_config.filter(|push| !push.push_endpoint.is_empty());
        if let Some(push) = &push_config {
            resources::validate_push_config(push)?;
        }
        let mut state = self.lock();
        let mut subscription = state
            .subscriptions
            .get(name)
            .map(|entry| entry.subscription.clone())
            .ok_or_else(|| Error::not_found(name))?;
        subscription.push_config = push_config;
        debug!(subscription = %name, push = is_push(&subscription), "push config modified");
        state.replace_subscription(subscription);
        Ok(())
    }

    /// Deletes a subscription, its backlog, and stops its deliveries.
    pub fn delete_subscription(&self, name: &str) -> Result<()> {
        names::parse_subscription(name)?;
        let mut state = self.lock();
        let entry = state
            .subscriptions
            .remove(name)
            .ok_or_else(|| Error::not_found(name))?;
        entry.stop.cancel();
        if let Some(topic) = state.topics.get_mut(&entry.subscription.topic) {
            topic.subscriptions.remove(name);
        }
        debug!(subscription = %name, dropped = entry.queue.backlog(), "subscription deleted");
        Ok(())
    }

    /// The subscription's ack deadline, scaled.
    pub fn ack_deadline(&self, name: &str) -> Result<Duration> {
        let subscription = self.get_subscription(name)?;
        Ok(self.scaled_seconds(subscription.ack_deadline_seconds))
    }

    /// Leases up to `max` ready messages until `ack_deadline` (already scaled) from now.
    pub fn pull(
        &self,
        name: &str,
        max: usize,
        ack_deadline: Duration,
    ) -> Result<Vec<ReceivedMessage>> {
        names::parse_subscription(name)?;
        let mut state = self.lock();
        let now = Instant::now();
        if !state.subscriptions.contains_key(name) {
            return Err(Error::not_found(name));
        }
        state.release(name, now, self.time_scale);
        let deadline = now + ack_deadline;
        let leased = state.lease(name, max, Some(deadline));
        let with_attempts = state.has_dead_letter_policy(name);
        let received: Vec<ReceivedMessage> = leased
            .into_iter()
            .map(|(ack_id, delivery)| {
                debug!(subscription = %name, message_id = %delivery.message.message_id, attempt = delivery.attempts, %ack_id, "pulled");
                ReceivedMessage {
                    ack_id,
                    message: Some(PubsubMessage::clone(&delivery.message)),
                    delivery_attempt: if with_attempts {
                        i32::try_from(delivery.attempts).unwrap_or(i32::MAX)
                    } else {
                        0
                    },
                }
            })
            .collect();
        if !received.is_empty() {
            state.notify(name);
        }
        Ok(received)
    }

    /// Acks leased messages; ack ids that are no longer leased are ignored, as Pub/Sub does.
    pub fn acknowledge(&self, name: &str, ack_ids: &[String]) -> Result<()> {
        names::parse_subscription(name)?;
        let mut state = self.lock();
        let entry = state
            .subscriptions
            .get_mut(name)
            .ok_or_else(|| Error::not_found(name))?;
        let mut acked = 0;
        for ack_id in ack_ids {
            if let Some(delivery) = entry.queue.settle(ack_id) {
                debug!(subscription = %name, message_id = %delivery.message.message_id, %ack_id, "acked");
                acked += 1;
            }
        }
        state.counters(name).acks += acked;
        state.notify(name);
        Ok(())
    }

    /// Extends leases by `seconds`, or nacks them when `seconds` is 0.
    pub fn modify_ack_deadline(&self, name: &str, ack_ids: &[String], seconds: i32) -> Result<()> {
        names::parse_subscription(name)?;
        if !(0..=MAX_ACK_DEADLINE_SECONDS).contains(&seconds) {
            return Err(Error::InvalidArgument(format!(
                "The ack deadline must be between 0 and {MAX_ACK_DEADLINE_SECONDS} seconds, got {seconds}"
            )));
        }
        let extension = self.scaled_seconds(seconds);
        let mut state = self.lock();
        if !state.subscriptions.contains_key(name) {
            return Err(Error::not_found(name));
        }
        let now = Instant::now();
        for ack_id in ack_ids {
            if seconds == 0 {
                let settled = state
                    .subscriptions
                    .get_mut(name)
                    .and_then(|entry| entry.queue.settle(ack_id));
                if let Some(delivery) = settled {
                    debug!(subscription = %name, message_id = %delivery.message.message_id, %ack_id, "nacked");
                    state.counters(name).nacks += 1;
                    state.fail(name, delivery, now, self.time_scale);
                }
            } else if let Some(entry) = state.subscriptions.get_mut(name) {
                entry.queue.extend(ack_id, now + extension);
            }
        }
        state.notify(name);
        Ok(())
    }

    /// Watches a subscription's backlog; the sender drops when it is deleted.
    pub fn watch(&self, name: &str) -> Result<watch::Receiver<()>> {
        let state = self.lock();
        state
            .subscriptions
            .get(name)
            .map(|entry| entry.changes.subscribe())
            .ok_or_else(|| Error::not_found(name))
    }

    /// Drops from `ack_ids` the leases that have been settled or expired.
    pub fn retain_leased(&self, name: &str, ack_ids: &mut HashSet<String>) {
        let state = self.lock();
        match state.subscriptions.get(name) {
            Some(entry) => ack_ids.retain(|ack_id| entry.queue.is_leased(ack_id)),
            None => ack_ids.clear(),
        }
    }

    /// A snapshot of the delivery counters.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        let mut counters = state.counters.clone();
        for (name, entry) in &state.subscriptions {
            counters.entry(name.clone()).or_default().backlog =
                u64::try_from(entry.queue.backlog()).unwrap_or(u64::MAX);
        }
        Stats::new(state.published, counters)
    }

    /// Releases what is due, and on a push subscription leases up to `free`
    /// messages as push requests. `None` once the subscription is gone.
    pub fn dispatch(&self, name: &str, free: usize) -> Option<DispatchStep> {
        let mut state = self.lock();
        let now = Instant::now();
        let subscription = state.subscriptions.get(name)?.subscription.clone();
        state.release(name, now, self.time_scale);
        let mut pushes = Vec::new();
        let endpoint = subscription
            .push_config
            .as_ref()
            .and_then(|push| push.push_endpoint.parse().ok());
        if let Some(endpoint) = endpoint {
            let timeout = self.scaled_seconds(subscription.ack_deadline_seconds);
            let with_attempts = subscription.dead_letter_policy.is_some();
            for (ack_id, delivery) in state.lease(name, free, None) {
                debug!(subscription = %name, message_id = %delivery.message.message_id, attempt = delivery.attempts, %ack_id, "pushing");
                pushes.push(PushRequest {
                    body: push_body(
                        &delivery.message,
                        name,
                        with_attempts.then_some(delivery.attempts),
                    )
                    .into(),
                    message_id: delivery.message.message_id.clone(),
                    ack_id,
                    endpoint: Uri::clone(&endpoint),
                    timeout,
                });
            }
        }
        let next_wake = state.subscriptions.get(name)?.queue.next_wake();
        Some(DispatchStep { pushes, next_wake })
    }

    /// Records a push answer: an ack removes the message, anything else is a nack.
    pub fn settle_push(&self, name: &str, ack_id: &str, outcome: &PushOutcome) {
        let mut state = self.lock();
        let Some(delivery) = state
            .subscriptions
            .get_mut(name)
            .and_then(|entry| entry.queue.settle(ack_id))
        else {
            return;
        };
        let message_id = &delivery.message.message_id;
        if outcome.is_ack() {
            debug!(subscription = %name, %message_id, attempt = delivery.attempts, ?outcome, "push acked");
            state.counters(name).acks += 1;
        } else {
            debug!(subscription = %name, %message_id, attempt = delivery.attempts, ?outcome, "push nacked");
            let counters = state.counters(name);
            counters.nacks += 1;
            if *outcome == PushOutcome::TimedOut {
                counters.expired += 1;
            }
            state.fail(name, delivery, Instant::now(), self.time_scale);
        }
    }
}

impl State {
    fn counters(&mut self, name: &str) -> &mut SubscriptionStats {
        self.counters.entry(name.to_owned()).or_default()
    }

    fn notify(&self, name: &str) {
        if let Some(entry) = self.subscriptions.get(name) {
            entry.changes.send_replace(());
        }
    }

    fn has_dead_letter_policy(&self, name: &str) -> bool {
        self.subscriptions
            .get(name)
            .is_some_and(|entry| entry.subscription.dead_letter_policy.is_some())
    }

    /// The topic and dead-letter topic a subscription names must exist.
    fn check_references(&self, subscription: &Subscription) -> Result<()> {
        if subscription.topic != DELETED_TOPIC && !self.topics.contains_key(&subscription.topic) {
            return Err(Error::not_found(&subscription.topic));
        }
        if let Some(policy) = &subscription.dead_letter_policy
            && !self.topics.contains_key(&policy.dead_letter_topic)
        {
            return Err(Error::not_found(&policy.dead_letter_topic));
        }
        Ok(())
    }

    fn replace_subscription(&mut self, subscription: Subscription) {
        let name = subscription.name.clone();
        if let Some(entry) = self.subscriptions.get_mut(&name) {
            entry.subscription = subscription;
        }
        self.notify(&name);
    }

    fn publish(&mut self, topic: &str, messages: Vec<PubsubMessage>) -> Result<Vec<String>> {
        let subscriptions: Vec<String> = self
            .topics
            .get(topic)
            .ok_or_else(|| Error::not_found(topic))?
            .subscriptions
            .iter()
            .cloned()
            .collect();
        let publish_time = wire_time::now();
        let mut ids = Vec::with_capacity(messages.len());
        for mut message in messages {
            self.next_message_id += 1;
            message.message_id = self.next_message_id.to_string();
            message.publish_time = Some(publish_time);
            let message = Arc::new(message);
            for name in &subscriptions {
                if let Some(entry) = self.subscriptions.get_mut(name) {
                    entry.queue.push(Arc::clone(&message));
                    self.counters(name).enqueued += 1;
                }
            }
            debug!(%topic, message_id = %message.message_id, subscriptions = subscriptions.len(), "published");
            ids.push(message.message_id.clone());
        }
        self.published += u64::try_from(ids.len()).unwrap_or(u64::MAX);
        for name in &subscriptions {
            self.notify(name);
        }
        Ok(ids)
    }

    /// Leases up to `max` ready messages, each under a fresh ack id.
    fn lease(
        &mut self,
        name: &str,
        max: usize,
        deadline: Option<Instant>,
    ) -> Vec<(String, Delivery)> {
        let mut leased = Vec::new();
        while leased.len() < max {
            let ack_id = (self.next_ack_id + 1).to_string();
            let Some(delivery) = self
                .subscriptions
                .get_mut(name)
                .and_then(|entry| entry.queue.lease(ack_id.clone(), deadline))
            else {
                break;
            };
            self.next_ack_id += 1;
            leased.push((ack_id, delivery));
        }
        self.counters(name).deliveries += u64::try_from(leased.len()).unwrap_or(u64::MAX);
        leased
    }

    /// Ends backoffs that are over and treats expired leases as nacks.
    fn release(&mut self, name: &str, now: Instant, time_scale: TimeScale) {
        let released = match self.subscriptions.get_mut(name) {
            Some(entry) => entry.queue.release_due(now),
            None => return,
        };
        if released.readied {
            // Only the dispatcher wakes when a backoff ends: an open streaming
            // pull waits for a change and would not see the message otherwise.
            self.notify(name);
        }
        for delivery in released.expired {
            debug!(subscription = %name, message_id = %delivery.message.message_id, attempt = delivery.attempts, "ack deadline expired");
            let counters = self.counters(name);
            counters.nacks += 1;
            counters.expired += 1;
            self.fail(name, delivery, now, time_scale);
        }
    }

    /// A delivery failed: forward it to the dead-letter topic if its attempts
    /// are used up, else schedule it again after the retry backoff.
    fn fail(&mut self, name: &str, delivery: Delivery, now: Instant, time_scale: TimeScale) {
        let Some(entry) = self.subscriptions.get(name) else {
            return;
        };
        let policy = entry.subscription.dead_letter_policy.clone();
        let retry = entry.subscription.retry_policy;
        let push = is_push(&entry.subscription);
        if dead_letter::exhausted(policy.as_ref(), delivery.attempts)
            && let Some(policy) = policy
        {
            let topic = policy.dead_letter_topic;
            if let Ok(source) = names::parse_subscription(name)
                && self.topics.contains_key(&topic)
            {
                let copy =
                    dead_letter::forwarded_message(&delivery.message, source, delivery.attempts);
                if self.publish(&topic, vec![copy]).is_ok() {
                    debug!(subscription = %name, message_id = %delivery.message.message_id, attempts = delivery.attempts, dead_letter_topic = %topic, "dead-lettered");
                    self.counters(name).dead_lettered += 1;
                    return;
                }
            }
            warn!(subscription = %name, dead_letter_topic = %topic, "dead-letter topic does not exist; redelivering instead");
        }
        let delay = redelivery_delay(retry.as_ref(), push, delivery.attempts, time_scale);
        debug!(subscription = %name, message_id = %delivery.message.message_id, attempt = delivery.attempts, ?delay, "redelivery scheduled");
        if let Some(entry) = self.subscriptions.get_mut(name) {
            entry.queue.retry_at(delivery, now + delay, now);
        }
        self.notify(name);
    }
}

fn is_push(subscription: &Subscription) -> bool {
    subscription
        .push_config
        .as_ref()
        .is_some_and(|push| !push.push_endpoint.is_empty())
}

/// Takes the items after `page_token` (the last name of the previous page), `page_size` at most.
fn paginate<T>(
    items: impl Iterator<Item = (String, T)>,
    page_size: i32,
    page_token: &str,
) -> Page<T> {
    let limit = usize::try_from(page_size)
        .ok()
        .filter(|&n| n > 0)
        .unwrap_or(usize::MAX);
    let mut rest = items
        .filter(|(name, _)| page_token.is_empty() || name.as_str() > page_token)
        .peekable();
    let mut page = Vec::new();
    let mut last = String::new();
    while page.len() < limit {
        let Some((name, item)) = rest.next() else {
            break;
        };
        last = name;
        page.push(item);
    }
    Page {
        items: page,
        next_page_token: if rest.peek().is_some() {
            last
        } else {
            String::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker() -> Arc<Broker> {
        Arc::new(Broker::new(TimeScale::REAL, 4, CancellationToken::new()))
    }

    fn setup(broker: &Arc<Broker>, dead_letter: bool) {
        for topic in ["projects/p/topics/jobs", "projects/p/topics/dead"] {
            broker
                .create_topic(Topic {
                    name: topic.into(),
                    ..Default::default()
                })
                .expect("topic");
        }
        broker
            .create_subscription(Subscription {
                name: "projects/p/subscriptions/work".into(),
                topic: "projects/p/topics/jobs".into(),
                retry_policy: Some(crate::proto::RetryPolicy::default()),
                dead_letter_policy: dead_letter.then(|| crate::proto::DeadLetterPolicy {
                    dead_letter_topic: "projects/p/topics/dead".into(),
                    max_delivery_attempts: 5,
                }),
                ..Default::default()
            })
            .expect("subscription");
        broker
            .create_subscription(Subscription {
                name: "projects/p/subscriptions/dead".into(),
                topic: "projects/p/topics/dead".into(),
                ..Default::default()
            })
            .expect("subscription");
    }

    fn publish_one(broker: &Broker) {
        broker
            .publish(
                "projects/p/topics/jobs",
                vec![PubsubMessage {
                    data: "x".into(),
                    ..Default::default()
                }],
            )
            .expect("publish");
    }

    const WORK: &str = "projects/p/subscriptions/work";

    #[tokio::test(start_paused = true)]
    async fn a_nacked_message_waits_out_the_retry_backoff() {
        let broker = broker();
        setup(&broker, false);
        publish_one(&broker);
        let deadline = broker.ack_deadline(WORK).expect("deadline");
        let first = broker.pull(WORK, 10, deadline).expect("pull");
        assert_eq!(first.len(), 1);
        broker
            .modify_ack_deadline(WORK, &[first[0].ack_id.clone()], 0)
            .expect("nack");
        assert!(broker.pull(WORK, 10, deadline).expect("pull").is_empty());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(broker.pull(WORK, 10, deadline).expect("pull").is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        let second = broker.pull(WORK, 10, deadline).expect("pull");
        assert_eq!(
            second.len(),
            1,
            "redelivered after the 10 s minimum backoff"
        );
        assert_eq!(
            second[0].delivery_attempt, 0,
            "no dead-letter policy, no attempt count"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_pull_is_dead_lettered_after_max_attempts() {
        let broker = broker();
        setup(&broker, true);
        publish_one(&broker);
        let deadline = broker.ack_deadline(WORK).expect("deadline");
        for attempt in 1..=5 {
            let received = loop {
                let received = broker.pull(WORK, 10, deadline).expect("pull");
                if !received.is_empty() {
                    break received;
                }
                tokio::time::advance(Duration::from_secs(1)).await;
            };
            assert_eq!(received[0].delivery_attempt, attempt);
            tokio::time::advance(deadline).await;
        }
        assert!(broker.pull(WORK, 10, deadline).expect("pull").is_empty());
        let dead = broker
            .pull("projects/p/subscriptions/dead", 10, deadline)
            .expect("pull");
        assert_eq!(dead.len(), 1);
        let attributes = &dead[0].message.as_ref().expect("message").attributes;
        assert_eq!(attributes["CloudPubSubDeadLetterSourceDeliveryCount"], "5");
        let stats = broker.stats().subscription("work");
        assert_eq!(
            (
                stats.deliveries,
                stats.expired,
                stats.dead_lettered,
                stats.backlog
            ),
            (5, 5, 1, 0)
        );
    }

    #[test]
    fn pages_continue_after_the_token() {
        let items = ["a", "b", "c"].map(|s| (s.to_owned(), s));
        let first = paginate(items.clone().into_iter(), 2, "");
        assert_eq!(first.items, ["a", "b"]);
        assert_eq!(first.next_page_token, "b");
        let second = paginate(items.into_iter(), 2, &first.next_page_token);
        assert_eq!(second.items, ["c"]);
        assert!(second.next_page_token.is_empty());
    }
}

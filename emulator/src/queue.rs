//! One subscription's backlog: messages ready to deliver, waiting out a backoff, or leased.

use crate::proto::PubsubMessage;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::time::Instant;

/// A message on its way through one subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The published message, shared by every subscription of the topic.
    pub message: Arc<PubsubMessage>,
    /// Deliveries so far on this subscription.
    pub attempts: u32,
}

#[derive(Debug)]
struct Lease {
    delivery: Delivery,
    /// `None` while a push request owns the outcome.
    expiry: Option<(Instant, u64)>,
}

/// What [`Queue::release_due`] found.
#[derive(Debug)]
pub struct Released {
    /// Whether a backoff ended: a message is ready that was not before.
    pub readied: bool,
    /// The leases whose ack deadline passed.
    pub expired: Vec<Delivery>,
}

/// The messages of one subscription that are not acked yet.
#[derive(Debug, Default)]
pub struct Queue {
    ready: VecDeque<Delivery>,
    delayed: BTreeMap<(Instant, u64), Delivery>,
    leases: HashMap<String, Lease>,
    expiries: BTreeMap<(Instant, u64), String>,
    sequence: u64,
}

impl Queue {
    /// Adds a newly published message.
    pub fn push(&mut self, message: Arc<PubsubMessage>) {
        self.ready.push_back(Delivery {
            message,
            attempts: 0,
        });
    }

    /// Schedules a failed delivery to be delivered again at `at`.
    pub fn retry_at(&mut self, delivery: Delivery, at: Instant, now: Instant) {
        if at <= now {
            self.ready.push_back(delivery);
        } else {
            let key = (at, self.next_sequence());
            self.delayed.insert(key, delivery);
        }
    }

    /// Moves messages whose backoff is over to ready, and returns the leases
    /// whose ack deadline passed (the caller treats them as nacks).
    pub fn release_due(&mut self, now: Instant) -> Released {
        let mut readied = false;
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.ready.push_back(entry.remove());
            readied = true;
        }
        let mut expired = Vec::new();
        while let Some(entry) = self.expiries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ack_id = entry.remove();
            if let Some(lease) = self.leases.remove(&ack_id) {
                expired.push(lease.delivery);
            }
        }
        Released { readied, expired }
    }

    /// Leases the oldest ready message under `ack_id`, counting a delivery
    /// attempt; with a `deadline` the lease expires by itself.
    pub fn lease(&mut self, ack_id: String, deadline: Option<Instant>) -> Option<Delivery> {
        let mut delivery = self.ready.pop_front()?;
        delivery.attempts += 1;
        let expiry = deadline.map(|at| (at, self.next_sequence()));
        if let Some(key) = expiry {
            self.expiries.insert(key, ack_id.clone());
        }
        self.leases.insert(
            ack_id,
            Lease {
                delivery: delivery.clone(),
                expiry,
            },
        );
        Some(delivery)
    }

    /// Ends a lease (ack or nack) and returns its delivery, if the lease was live.
    pub fn settle(&mut self, ack_id: &str) -> Option<Delivery> {
        let lease = self.leases.remove(ack_id)?;
        if let Some(key) = lease.expiry {
            self.expiries.remove(&key);
        }
        Some(lease.delivery)
    }

    /// Moves a live lease's deadline; false if the lease is gone.
    pub fn extend(&mut self, ack_id: &str, deadline: Instant) -> bool {
        let sequence = self.next_sequence();
        let Some(lease) = self.leases.get_mut(ack_id) else {
            return false;
        };
        if let Some(old) = lease.expiry.replace((deadline, sequence)) {
            self.expiries.remove(&old);
        }
        self.expiries
            .insert((deadline, sequence), ack_id.to_owned());
        true
    }

    /// Whether `ack_id` is still leased.
    pub fn is_leased(&self, ack_id: &str) -> bool {
        self.leases.contains_key(ack_id)
    }

    /// The next instant a backoff ends or a lease expires.
    pub fn next_wake(&self) -> Option<Instant> {
        let delayed = self.delayed.keys().next().map(|k| k.0);
        let expiry = self.expiries.keys().next().map(|k| k.0);
        delayed.into_iter().chain(expiry).min()
    }

    /// Messages not acked yet: ready, backing off, or leased.
    pub fn backlog(&self) -> usize {
        self.ready.len() + self.delayed.len() + self.leases.len()
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn message(id: &str) -> Arc<PubsubMessage> {
        Arc::new(PubsubMessage {
            message_id: id.to_owned(),
            ..Default::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lease_comes_back_for_redelivery() {
        let mut queue = Queue::default();
        queue.push(message("1"));
        let start = Instant::now();
        let delivery = queue
            .lease("a".into(), Some(start + Duration::from_secs(10)))
            .expect("ready");
        assert_eq!(delivery.attempts, 1);
        assert!(queue.lease("none".into(), None).is_none());
        assert_eq!(queue.next_wake(), Some(start + Duration::from_secs(10)));

        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(queue.release_due(Instant::now()).expired.is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        let expired = queue.release_due(Instant::now()).expired;
        assert_eq!(expired.len(), 1);
        assert!(!queue.is_leased("a"));
        assert!(queue.settle("a").is_none(), "a late ack finds no lease");

        let now = Instant::now();
        queue.retry_at(expired[0].clone(), now + Duration::from_secs(5), now);
        assert!(queue.lease("none".into(), None).is_none());
        tokio::time::advance(Duration::from_secs(5)).await;
        let released = queue.release_due(Instant::now());
        assert!(released.readied && released.expired.is_empty());
        let again = queue.lease("b".into(), None).expect("released");
        assert_eq!(again.attempts, 2);
        assert_eq!(queue.next_wake(), None, "a push lease has no deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn extending_a_lease_moves_its_deadline() {
        let mut queue = Queue::default();
        queue.push(message("1"));
        let start = Instant::now();
        queue.lease("a".into(), Some(start + Duration::from_secs(1)));
        assert!(queue.extend("a", start + Duration::from_secs(60)));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(queue.release_due(Instant::now()).expired.is_empty());
        assert!(queue.settle("a").is_some());
        assert_eq!(queue.backlog(), 0);
        assert!(
            !queue.extend("a", start),
            "a settled lease cannot be extended"
        );
    }
}

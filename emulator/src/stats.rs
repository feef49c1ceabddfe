//! Delivery counters per subscription and in total, for `GET /stats` and tests.

use serde::Serialize;
use std::collections::BTreeMap;

/// What happened to the messages of one subscription since the emulator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionStats {
    /// Messages published to the subscription's topic while it was attached.
    pub enqueued: u64,
    /// Deliveries: pulled messages and push requests, redeliveries included.
    pub deliveries: u64,
    /// Deliveries acknowledged (a 2xx push answer or an Acknowledge call).
    pub acks: u64,
    /// Deliveries that failed: a nack, a non-2xx or failed push, or an expired ack deadline.
    pub nacks: u64,
    /// The part of `nacks` that were ack deadlines passing without an answer.
    pub expired: u64,
    /// Messages forwarded to the dead-letter topic.
    pub dead_lettered: u64,
    /// Messages not acked yet (ready, backing off, or leased) at the time of the snapshot.
    pub backlog: u64,
}

impl SubscriptionStats {
    fn add(&mut self, other: &Self) {
        self.enqueued += other.enqueued;
        self.deliveries += other.deliveries;
        self.acks += other.acks;
        self.nacks += other.nacks;
        self.expired += other.expired;
        self.dead_lettered += other.dead_lettered;
        self.backlog += other.backlog;
    }
}

/// A snapshot of the emulator's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Messages accepted by Publish calls (dead-letter forwards included).
    pub published: u64,
    /// The sum over every subscription.
    pub total: SubscriptionStats,
    /// Per subscription, by full name; deleted subscriptions keep their counters.
    pub subscriptions: BTreeMap<String, SubscriptionStats>,
}

impl Stats {
    /// Builds a snapshot and its totals from per-subscription counters.
    pub fn new(published: u64, subscriptions: BTreeMap<String, SubscriptionStats>) -> Self {
        let mut total = SubscriptionStats::default();
        for stats in subscriptions.values() {
            total.add(stats);
        }
        Self {
            published,
            total,
            subscriptions,
        }
    }

    /// The counters of a subscription by full name or by id (zero if unknown).
    pub fn subscription(&self, name: &str) -> SubscriptionStats {
        self.subscriptions
            .iter()
            .find(|(full, _)| full.as_str() == name || full.rsplit('/').next() == Some(name))
            .map(|(_, stats)| *stats)
            .unwrap_or_default()
    }
}

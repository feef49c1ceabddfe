//! How the worker takes in deliveries of the `jobs` subscription: Pub/Sub
//! pushes them over HTTP (`push`, the default), or the worker pulls them
//! from a pull subscription with the official streaming-pull subscriber.

use clap::{Args, ValueEnum};
use jobs_runtime::settings::SettingError;
use std::time::Duration;

/// The pull subscription's default name.
pub const PULL_SUBSCRIPTION: &str = "jobs-worker-pull";

/// How deliveries of the `jobs` subscription reach the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkerMode {
    /// Pub/Sub pushes to `/pubsub/push` (Cloud Run services, scale to zero).
    Push,
    /// The worker streams from `PUBSUB_PULL_SUBSCRIPTION` (worker pools, GKE).
    Pull,
}

/// The worker's mode and, in pull mode, its flow control.
#[derive(Debug, Clone, Args)]
pub struct PullSettings {
    /// `push` (Pub/Sub pushes to `/pubsub/push`) or `pull` (the worker pulls
    /// from `PUBSUB_PULL_SUBSCRIPTION`).
    #[arg(
        long = "worker-mode",
        env = "WORKER_MODE",
        value_name = "WORKER_MODE",
        value_enum,
        default_value = "push"
    )]
    pub mode: WorkerMode,
    /// The pull subscription on the jobs topic a `pull` worker reads, by its
    /// short name in `GOOGLE_CLOUD_PROJECT`.
    #[arg(long = "pubsub-pull-subscription", env = "PUBSUB_PULL_SUBSCRIPTION",
          value_name = "PUBSUB_PULL_SUBSCRIPTION", default_value = PULL_SUBSCRIPTION)]
    pub subscription: String,
    /// Jobs a `pull` worker runs at once.
    #[arg(long = "pull-concurrency", env = "PULL_CONCURRENCY", value_name = "PULL_CONCURRENCY",
          default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Messages Pub/Sub may hand a `pull` worker before it acks or nacks
    /// some: at least PULL_CONCURRENCY; those over it wait, their ack
    /// deadlines extended, for a free slot. The client sends acks every
    /// 100 ms, and an acked message counts until then, so this also caps
    /// throughput at about ten times its value per second.
    #[arg(long = "pull-max-outstanding-messages", env = "PULL_MAX_OUTSTANDING_MESSAGES",
          value_name = "PULL_MAX_OUTSTANDING_MESSAGES", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_outstanding: u32,
    /// Seconds each extension of a pulled message's ack deadline reaches
    /// ahead (10 to 600): a worker that dies holding messages has them
    /// redelivered after at most this long.
    #[arg(long = "pull-ack-deadline", env = "PULL_ACK_DEADLINE_SECONDS", value_name = "PULL_ACK_DEADLINE_SECONDS",
          default_value_t = 60, value_parser = clap::value_parser!(u64).range(10..=600))]
    pub ack_deadline_seconds: u64,
}

/// A checked pull configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOptions {
    /// The subscription's short name.
    pub subscription: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Messages held before acking, at least `concurrency`.
    pub max_outstanding: u32,
    /// How far each ack deadline extension reaches.
    pub ack_deadline: Duration,
}

impl PullSettings {
    /// The pull configuration in `pull` mode (`None` in `push` mode), after
    /// checking the settings agree.
    pub fn checked(&self) -> Result<Option<PullOptions>, SettingError> {
        if self.mode == WorkerMode::Push {
            return Ok(None);
        }
        let subscription = self.subscription.trim();
        if subscription.is_empty() || subscription.contains('/') {
            return Err(SettingError {
                setting: "PUBSUB_PULL_SUBSCRIPTION",
                message: "must be a subscription's short name, e.g. jobs-worker-pull".to_owned(),
            });
        }
        if self.max_outstanding < self.concurrency {
            return Err(SettingError {
                setting: "PULL_MAX_OUTSTANDING_MESSAGES",
                message: format!("must be at least PULL_CONCURRENCY ({})", self.concurrency),
            });
        }
        Ok(Some(PullOptions {
            subscription: subscription.to_owned(),
            concurrency: usize::try_from(self.concurrency).unwrap_or(usize::MAX),
            max_outstanding: self.max_outstanding,
            ack_deadline: Duration::from_secs(self.ack_deadline_seconds),
        }))
    }
}

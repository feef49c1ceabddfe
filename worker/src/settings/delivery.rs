//! How deliveries are taken in, how a running job's lease is kept, how a
//! dead-lettered job is requeued, and how a job whose key is at its type's
//! concurrency limit waits.

use crate::lease::LeasePolicy;
use clap::Args;
use jobs_domain::{DeferralPolicy, RequeuePolicy};
use jobs_runtime::settings::{SettingError, parse_fractional_seconds};
use std::time::Duration;

/// Push bodies, leases, dead-letter requeues and concurrency deferrals.
#[derive(Debug, Clone, Copy, Args)]
pub struct DeliverySettings {
    /// Largest push body accepted, in bytes.
    #[arg(long, env = "PUSH_MAX_BODY_BYTES", value_name = "PUSH_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub push_max_body_bytes: u32,
    /// Seconds between a running job's heartbeats: each extends its lease to
    /// three heartbeats ahead, so a job whose worker died runs again within
    /// about three heartbeats. From 0.05 to 600.
    #[arg(long, env = "LEASE_HEARTBEAT_SECONDS", value_name = "LEASE_HEARTBEAT_SECONDS",
          default_value = "10", value_parser = parse_fractional_seconds)]
    pub lease_heartbeat: Duration,
    /// Dead-letters without an attempt running in between that requeue a job
    /// (pending again, published afresh); the next one fails it as `dead_lettered`.
    #[arg(long, env = "DEAD_LETTER_REQUEUE_LIMIT", value_name = "DEAD_LETTER_REQUEUE_LIMIT", default_value_t = 5,
          value_parser = clap::value_parser!(i32).range(0..=1000))]
    pub dead_letter_requeue_limit: i32,
    /// Seconds before a requeued job is published again; doubles with each requeue without progress.
    #[arg(long, env = "DEAD_LETTER_REQUEUE_DELAY_SECONDS", value_name = "DEAD_LETTER_REQUEUE_DELAY_SECONDS",
          default_value = "60", value_parser = parse_fractional_seconds)]
    pub dead_letter_requeue_delay: Duration,
    /// The longest delay before a requeued job is published again, in seconds.
    #[arg(long, env = "DEAD_LETTER_REQUEUE_MAX_DELAY_SECONDS", value_name = "DEAD_LETTER_REQUEUE_MAX_DELAY_SECONDS",
          default_value = "900", value_parser = parse_fractional_seconds)]
    pub dead_letter_requeue_max_delay: Duration,
    /// Seconds before a job whose key is at its type's concurrency limit is
    /// published again; doubles with each deferral until the job runs.
    #[arg(long, env = "CONCURRENCY_DEFER_DELAY_SECONDS", value_name = "CONCURRENCY_DEFER_DELAY_SECONDS",
          default_value = "1", value_parser = parse_fractional_seconds)]
    pub concurrency_defer_delay: Duration,
    /// The longest delay before a deferred job is published again, in seconds.
    #[arg(long, env = "CONCURRENCY_DEFER_MAX_DELAY_SECONDS", value_name = "CONCURRENCY_DEFER_MAX_DELAY_SECONDS",
          default_value = "10", value_parser = parse_fractional_seconds)]
    pub concurrency_defer_max_delay: Duration,
}

impl DeliverySettings {
    /// The lease policy, after checking the heartbeat is neither so short
    /// that it hammers the database nor longer than a push may wait.
    pub fn lease_policy(&self) -> Result<LeasePolicy, SettingError> {
        let every = self.lease_heartbeat;
        if every < LeasePolicy::SHORTEST || every > LeasePolicy::LONGEST {
            return Err(SettingError {
                setting: "LEASE_HEARTBEAT_SECONDS",
                message: format!(
                    "must be from {} to {} seconds",
                    LeasePolicy::SHORTEST.as_secs_f64(),
                    LeasePolicy::LONGEST.as_secs_f64()
                ),
            });
        }
        Ok(LeasePolicy { every })
    }

    /// The requeue policy, after checking its delays agree.
    pub fn requeue_policy(&self) -> Result<RequeuePolicy, SettingError> {
        if self.dead_letter_requeue_delay > self.dead_letter_requeue_max_delay {
            return Err(SettingError {
                setting: "DEAD_LETTER_REQUEUE_DELAY_SECONDS",
                message: "must not exceed DEAD_LETTER_REQUEUE_MAX_DELAY_SECONDS".to_owned(),
            });
        }
        Ok(RequeuePolicy {
            limit: self.dead_letter_requeue_limit,
            delay: self.dead_letter_requeue_delay,
            max_delay: self.dead_letter_requeue_max_delay,
        })
    }

    /// The deferral policy, after checking its delays agree; a job's
    /// `deferred` events stay at most one per [`DeferralPolicy::DEFAULT`]'s
    /// `event_every`.
    pub fn deferral_policy(&self) -> Result<DeferralPolicy, SettingError> {
        if self.concurrency_defer_delay > self.concurrency_defer_max_delay {
            return Err(SettingError {
                setting: "CONCURRENCY_DEFER_DELAY_SECONDS",
                message: "must not exceed CONCURRENCY_DEFER_MAX_DELAY_SECONDS".to_owned(),
            });
        }
        Ok(DeferralPolicy {
            delay: self.concurrency_defer_delay,
            max_delay: self.concurrency_defer_max_delay,
            ..DeferralPolicy::DEFAULT
        })
    }
}

//! How the reconciler paces itself.

use clap::Args;
use jobs_runtime::settings::parse_fractional_seconds;
use std::time::Duration;

/// How the reconciler paces itself.
#[derive(Debug, Clone, Copy, Args)]
pub struct ReconcilerSettings {
    /// Seconds between passes; also the precision of delayed jobs.
    #[arg(long = "reconcile-interval", env = "RECONCILE_INTERVAL_SECONDS", value_name = "RECONCILE_INTERVAL_SECONDS",
          default_value = "1", value_parser = parse_fractional_seconds)]
    pub interval: Duration,
    /// Seconds a new job may wait for the API's own publish before the reconciler publishes it.
    #[arg(long = "reconcile-publish-grace", env = "RECONCILE_PUBLISH_GRACE_SECONDS",
          value_name = "RECONCILE_PUBLISH_GRACE_SECONDS", default_value = "10", value_parser = parse_fractional_seconds)]
    pub publish_grace: Duration,
    /// Seconds a published pending job may sit untouched before its message counts as lost;
    /// keep it above the subscription's maximum backoff (600 s).
    #[arg(long = "reconcile-stale-after", env = "RECONCILE_STALE_AFTER_SECONDS",
          value_name = "RECONCILE_STALE_AFTER_SECONDS", default_value = "900", value_parser = parse_fractional_seconds)]
    pub stale_after: Duration,
    /// Most jobs published per pass.
    #[arg(long = "reconcile-batch-size", env = "RECONCILE_BATCH_SIZE", value_name = "RECONCILE_BATCH_SIZE",
          default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
}

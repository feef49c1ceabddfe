//! How deliveries are taken in and how long a claim holds a job.

use clap::Args;
use jobs_runtime::settings::parse_seconds;
use std::time::Duration;

/// Push bodies and leases.
#[derive(Debug, Clone, Copy, Args)]
pub struct DeliverySettings {
    /// Largest push body accepted, in bytes.
    #[arg(long, env = "PUSH_MAX_BODY_BYTES", value_name = "PUSH_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub push_max_body_bytes: u32,
    /// How long a claim's lease outlasts the job's timeout, so a slow outcome write is not taken over.
    #[arg(long, env = "LEASE_GRACE_SECONDS", value_name = "LEASE_GRACE_SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub lease_grace: Duration,
}

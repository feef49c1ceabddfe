//! How the API takes requests in and trusts API keys.

use clap::Args;
use jobs_runtime::settings::parse_seconds;
use std::time::Duration;

/// Request bodies and API-key checks.
#[derive(Debug, Clone, Copy, Args)]
pub struct RequestSettings {
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", value_name = "MAX_BODY_BYTES", default_value_t = 256 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=10 * 1024 * 1024))]
    pub max_body_bytes: u32,
    /// How long a verified API key is trusted before it is looked up again (revocation delay).
    #[arg(long, env = "API_KEY_CACHE_SECONDS", value_name = "API_KEY_CACHE_SECONDS", default_value = "60", value_parser = parse_seconds)]
    pub api_key_cache: Duration,
}

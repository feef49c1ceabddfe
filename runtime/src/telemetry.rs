//! Tracing set-up: Cloud Logging JSON in production, readable text locally.

use crate::settings::LogFormat;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
///
/// Errors when a subscriber is already installed or `RUST_LOG` does not parse.
pub fn init(format: LogFormat) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry.with(tracing_stackdriver::layer()).try_init(),
        LogFormat::Pretty => registry.with(fmt::layer().with_target(true)).try_init(),
    }
}

//! What every process of the job service does the same way: settings read
//! from the environment and checked at start, logs, traces, metrics, the
//! Pub/Sub publisher and subscriber, binding and serving with a graceful
//! shutdown, and the `migrate` command. The binaries' crates hold only what
//! is theirs.

pub mod cli;
mod cloud_logging;
pub mod metrics;
pub mod migrate;
mod otlp;
pub mod publisher;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod startup_error;
pub mod subscriber;
pub mod telemetry;
pub mod trace_context;

pub use metrics::Metrics;
pub use publisher::{JobPublisher, PublishError};
pub use server::Server;
pub use startup_error::StartupError;
pub use subscriber::SubscribeError;

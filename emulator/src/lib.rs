//! An in-memory Google Cloud Pub/Sub emulator for local runs and tests; never
//! for production (no authentication, no persistence, no TLS).
//!
//! It serves the `google.pubsub.v1` Publisher and Subscriber gRPC services and
//! Pub/Sub's REST/JSON surface on one port, delivers push subscriptions with
//! the real envelope, and honours ack deadlines, retry policies and
//! dead-letter policies. A time scale shrinks every delay for fast tests.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use pubsub_emulator::{Emulator, Setup, SubscriptionSetup};
//! use std::time::Duration;
//!
//! let emulator = Emulator::builder()
//!     .bind("127.0.0.1:0")
//!     .time_scale(100.0)
//!     .setup(
//!         Setup::new().topic("jobs").subscription(
//!             SubscriptionSetup::push("jobs-worker", "jobs", "http://127.0.0.1:8081/pubsub/push")
//!                 .retry(Duration::from_secs(10), Duration::from_secs(600))
//!                 .dead_letter("jobs-dead-letter", 5),
//!         ),
//!     )
//!     .start()
//!     .await?;
//! println!("PUBSUB_EMULATOR_HOST={}", emulator.host());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

mod backoff;
mod broker;
mod config;
mod dead_letter;
mod dispatcher;
mod error;
mod grpc_publisher;
mod grpc_subscriber;
mod names;
mod proto;
mod pull;
mod push;
mod push_envelope;
mod queue;
mod resources;
mod rest;
mod rest_json;
mod server;
mod setup;
mod stats;
mod streaming_pull;
mod time_scale;
mod wire_time;

// The binary's command line, public so that the job service's multi-call
// binary can run the emulator too.
pub mod cli;

pub use config::{
    DEFAULT_HOST, DEFAULT_PORT, DEFAULT_PROJECT, DEFAULT_PUSH_CONCURRENCY, EmulatorConfig,
};
pub use error::Error;
pub use names::{Kind as ResourceKind, NameError};
pub use server::{Emulator, EmulatorBuilder, RunningEmulator, StartError};
pub use setup::{Setup, SetupError, SubscriptionSetup};
pub use stats::{Stats, SubscriptionStats};
pub use time_scale::{TimeScale, TimeScaleError};

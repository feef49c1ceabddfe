//! The Pub/Sub push worker of the job service (`jobs-worker` on Cloud Run):
//! it verifies pushes, claims each job through the domain's state machine,
//! runs its handler under the job's timeout and records the outcome.

pub mod ack;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod push_auth;
pub mod push_envelope;
pub mod routes;
pub mod startup;
pub mod state;

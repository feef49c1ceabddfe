//! The Pub/Sub worker of the job service (`jobs-worker` on Cloud Run): it
//! verifies pushes (or pulls, `WORKER_MODE=pull`), claims each job through the domain's state machine,
//! runs its job type under the job's timeout and records the outcome.

pub mod answer;
pub mod callback;
pub mod cli;
pub mod delivery;
pub mod error;
pub mod extract;
pub mod lease;
pub mod pull;
pub mod push_auth;
pub mod push_envelope;
pub mod reconciler;
pub mod routes;
pub mod running;
pub mod scheduler;
pub mod settings;
pub mod startup;
pub mod state;

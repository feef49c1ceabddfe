//! The public HTTP API of the job service (`jobs-api` on Cloud Run).

pub mod auth;
pub mod cli;
pub mod error;
pub mod extract;
pub mod job_waiters;
pub mod page_token;
pub mod rate_limit;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
pub mod submission;

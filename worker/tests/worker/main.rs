//! The worker over real HTTP on a random port, against a fresh PostgreSQL database per test.

mod auth;
mod dead_letter;
mod health;
mod helpers;
mod http_jobs;
mod metrics;
mod push;
mod startup;
mod timeouts;

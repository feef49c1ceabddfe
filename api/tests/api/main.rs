//! The API over real HTTP on a random port, against a fresh PostgreSQL database per test.

mod callbacks;
mod concurrency;
mod errors;
mod health;
mod helpers;
mod input;
mod job_types;
mod jobs;
mod jobs_bulk;
mod keys;
mod metrics;
mod openapi;
mod outage;
mod publishing;
mod rate_limits;
mod schedules;
mod stats;
mod tenants;
mod timeouts;
mod ui;
mod wait;

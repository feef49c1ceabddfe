//! The whole pipeline end to end: the API and the Pub/Sub emulator in this
//! process, the worker as a real child process (so it can be killed), a real
//! PostgreSQL, and an HTTP target the `http` jobs call.

mod balancer;
mod browser;
mod callbacks;
mod cancellation;
mod chaos;
mod concurrency;
mod dashboard;
mod delivery;
mod failures;
mod harness;
mod job_types;
mod lifecycle;
mod otlp_receiver;
mod outages;
mod pull;
mod recovery;
mod schedules;
mod seed;
mod soak;
mod target;
mod traces;

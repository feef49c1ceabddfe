//! The domain's integration tests, in one binary so that the test build links
//! the dependency graph once for this crate.

mod concurrency;
mod group_commit;
mod job_stats;
mod job_store;
mod schedule_store;
mod state_machine;

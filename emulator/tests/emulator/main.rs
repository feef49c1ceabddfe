//! The emulator's integration tests, in one binary so that the workspace's
//! test build links the dependency graph once per crate, not once per file.

mod admin;
mod cli;
mod common;
mod concurrency;
mod pull;
mod push;
mod rest;

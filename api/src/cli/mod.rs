//! The binary edges of this crate: what `api` and `migrate` do with their
//! command line. The `api` and `migrate` binaries and the multi-call `jobs`
//! binary (one image, one binary, the name it is called by picks the role) all
//! call these, so each binary's behaviour lives in one place.
//!
//! These are the only functions of the crate that return [`anyhow::Result`]:
//! the error only ever reaches `main`, which prints it and exits 1.

pub mod api;
pub mod migrate;

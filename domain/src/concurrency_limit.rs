//! A job type's per-key concurrency limit: at most `limit` of its jobs with
//! the same key value are `processing` at once, across every worker.

use crate::payload_key::PayloadKey;
use serde::{Deserialize, Serialize};

/// The largest `limit` a concurrency limit may have.
pub const MAX_CONCURRENCY_LIMIT: u32 = 10_000;

/// At most `limit` jobs per key value running at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencyLimit {
    /// Where the key value is in the payload; absent: one limit for the whole type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PayloadKey>,
    /// Jobs running at once per key value.
    pub limit: u32,
}

impl ConcurrencyLimit {
    /// Checks the limit; the message names the field under `concurrency`.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_CONCURRENCY_LIMIT).contains(&self.limit) {
            return Err(format!(
                "concurrency.limit: must be between 1 and {MAX_CONCURRENCY_LIMIT}"
            ));
        }
        Ok(())
    }
}

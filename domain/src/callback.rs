//! Completion callbacks: when a job with a `callback_url` ends, the service
//! POSTs it there, as a job of its own of this internal type, so a callback
//! retries, is visible, and never holds up the job it reports.

use crate::job::JobId;
use serde::{Deserialize, Serialize};

/// The internal type of callback jobs; no tenant may submit or define it.
pub const CALLBACK_JOB_TYPE: &str = "callback";

/// Attempts a callback gets: Pub/Sub's backoff spreads them over about an hour.
pub const CALLBACK_MAX_ATTEMPTS: i32 = 10;

/// Longest one callback request may take.
pub const CALLBACK_TIMEOUT_SECONDS: i32 = 30;

/// A callback job's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackPayload {
    /// Where to POST.
    pub url: String,
    /// The job that ended; sent as `GET /v1/jobs/{id}` would show it.
    pub job_id: JobId,
}

//! The Pub/Sub message schema of the `jobs` topic.

use crate::job::{Job, JobId};
use serde::{Deserialize, Serialize};

/// The topic every job is published to.
pub const JOBS_TOPIC: &str = "jobs";
/// The topic Pub/Sub forwards undeliverable job messages to.
pub const DEAD_LETTER_TOPIC: &str = "jobs-dead-letter";
/// The push subscription on [`JOBS_TOPIC`] that calls the worker.
pub const WORKER_SUBSCRIPTION: &str = "jobs-worker";
/// The push subscription on [`DEAD_LETTER_TOPIC`] that calls the worker.
pub const DEAD_LETTER_SUBSCRIPTION: &str = "jobs-dead-letter-worker";
/// The worker's path for deliveries of [`WORKER_SUBSCRIPTION`].
pub const PUSH_PATH: &str = "/pubsub/push";
/// The worker's path for deliveries of [`DEAD_LETTER_SUBSCRIPTION`].
pub const DEAD_LETTER_PATH: &str = "/pubsub/dead-letter";
/// Deliveries before Pub/Sub dead-letters a job message.
pub const MAX_DELIVERY_ATTEMPTS: i32 = 5;

/// The Pub/Sub message published for a job on the `jobs` topic: it names the
/// job, and the worker reads everything else from the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job to run.
    pub job_id: JobId,
    /// Its type, also sent as an attribute so subscriptions can filter on it.
    #[serde(rename = "type")]
    pub job_type: String,
}

impl From<&Job> for JobMessage {
    fn from(job: &Job) -> Self {
        JobMessage {
            job_id: job.id,
            job_type: job.job_type.clone(),
        }
    }
}

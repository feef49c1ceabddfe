//! Publishing job messages to Pub/Sub with the official client.
//!
//! The API hands a message off and answers at once; a background task awaits
//! the publish and marks the job `published_at`. A job whose publish failed
//! keeps `published_at` null, and the reconciler publishes it again, so no
//! publish failure ever loses a job.
//!
//! A hand-off is a `publish` span, child of the caller's (a submit's), whose
//! trace context the message carries in its attributes (`traceparent`), so
//! the job's deliveries continue the submit's trace.

use crate::metrics::Metrics;
use crate::settings::PubSubSettings;
use crate::trace_context;
use chrono::{DateTime, Utc};
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;
use jobs_domain::{Job, JobId, JobMessage, JobStore};
use std::collections::HashMap;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

/// How long one publish keeps retrying before the reconciler takes over.
const PUBLISH_RETRY_LIMIT: Duration = Duration::from_secs(30);
/// Most confirmations written in one statement.
const CONFIRM_BATCH: usize = 1000;

/// Why a publisher could not be built. Publishes themselves never fail a
/// caller: a job whose publish failed stays unpublished in the database, and
/// the reconciler publishes it again.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The client could not be built (a bad endpoint, or no credentials):
    /// stop start-up and fix `PUBSUB_EMULATOR_HOST`, `GOOGLE_CLOUD_PROJECT`
    /// or the service account's credentials.
    #[error("cannot create the Pub/Sub publisher: {0}")]
    Client(String),
}

/// Publishes job messages and records which jobs were published.
#[derive(Debug, Clone)]
pub struct JobPublisher {
    publisher: Publisher,
    confirmed: mpsc::UnboundedSender<Confirmation>,
    /// The hand-offs still awaiting Pub/Sub's answer.
    in_flight: TaskTracker,
    metrics: Metrics,
}

impl JobPublisher {
    /// A publisher for the configured topic. With `PUBSUB_EMULATOR_HOST` set
    /// it talks plaintext to the emulator with anonymous credentials (the
    /// client does not read that variable itself); otherwise it uses
    /// Application Default Credentials. Publishes are counted in `metrics`.
    pub async fn new(
        settings: &PubSubSettings,
        store: JobStore,
        metrics: Metrics,
    ) -> Result<Self, PublishError> {
        let mut builder = Publisher::builder(settings.topic_path())
            .with_retry_policy(Aip194Strict.with_time_limit(PUBLISH_RETRY_LIMIT));
        if let Some(host) = &settings.emulator_host {
            builder = builder
                .with_endpoint(format!("http://{host}"))
                .with_credentials(
                    google_cloud_auth::credentials::anonymous::Builder::new().build(),
                );
        }
        let publisher = builder
            .build()
            .await
            .map_err(|err| PublishError::Client(err.to_string()))?;
        let (confirmed, confirmations) = mpsc::unbounded_channel();
        tokio::spawn(record_confirmations(store, confirmations));
        Ok(JobPublisher {
            publisher,
            confirmed,
            in_flight: TaskTracker::new(),
            metrics,
        })
    }

    /// Starts publishing `job` and returns at once; the outcome is recorded in the background.
    pub fn hand_off(&self, job: &Job) {
        self.hand_off_message(&JobMessage::from(job), job.updated_at);
    }

    /// As [`JobPublisher::hand_off`], for a job known by its message and its
    /// `updated_at` (`version`): a job another statement created, such as a
    /// completion callback.
    pub fn hand_off_message(&self, message: &JobMessage, version: DateTime<Utc>) {
        let id = message.job_id;
        let span = publish_span(1);
        let message = match encode(message, trace_context::message_attributes(&span)) {
            Ok(message) => message,
            Err(err) => {
                tracing::error!(job_id = %id, error = %err, "cannot encode job message; the reconciler will retry");
                return;
            }
        };
        let publish = self.publisher.publish(message);
        let confirmed = self.confirmed.clone();
        let metrics = self.metrics.clone();
        self.in_flight.spawn(
            async move { settle(publish, id, version, &confirmed, &metrics).await }
                .instrument(span),
        );
    }

    /// Starts publishing every job in one background task and returns at
    /// once; their confirmations are recorded like [`JobPublisher::hand_off`]'s.
    pub fn hand_off_all(&self, jobs: &[Job]) {
        let span = publish_span(jobs.len());
        let attributes = trace_context::message_attributes(&span);
        let publishes: Vec<_> = jobs
            .iter()
            .filter_map(|job| match encode(&JobMessage::from(job), attributes.clone()) {
                Ok(message) => Some((job.id, job.updated_at, self.publisher.publish(message))),
                Err(err) => {
                    tracing::error!(job_id = %job.id, error = %err, "cannot encode job message; the reconciler will retry");
                    None
                }
            })
            .collect();
        if publishes.is_empty() {
            return;
        }
        let confirmed = self.confirmed.clone();
        let metrics = self.metrics.clone();
        self.in_flight.spawn(
            async move {
                for (id, version, publish) in publishes {
                    settle(publish, id, version, &confirmed, &metrics).await;
                }
            }
            .instrument(span),
        );
    }

    /// Publishes every message and waits; returns the ids Pub/Sub accepted.
    /// The messages carry the caller's trace, if it has one.
    pub async fn publish_all(&self, messages: &[JobMessage]) -> Vec<JobId> {
        let attributes = trace_context::message_attributes(&Span::current());
        let pending: Vec<_> = messages
            .iter()
            .filter_map(|message| {
                let encoded = encode(message, attributes.clone())
                    .map_err(|err| tracing::error!(job_id = %message.job_id, error = %err, "cannot encode job message"))
                    .ok()?;
                Some((message.job_id, self.publisher.publish(encoded)))
            })
            .collect();
        let mut published = Vec::with_capacity(pending.len());
        for (id, publish) in pending {
            let result = publish.await;
            self.metrics.published(result.is_ok());
            match result {
                Ok(_) => published.push(id),
                Err(err) => {
                    tracing::warn!(job_id = %id, error = %err, "republish failed; will try again")
                }
            }
        }
        published
    }

    /// For shutdown: sends everything still buffered, waits for Pub/Sub's
    /// answer to every hand-off, and writes their confirmations, so a
    /// stopping process drops no publish it accepted. Hand-offs after this
    /// are still published, but not waited for.
    pub async fn shutdown(&self) {
        self.publisher.flush().await;
        self.in_flight.close();
        self.in_flight.wait().await;
        let (written, confirmations_written) = oneshot::channel();
        if self.confirmed.send(Confirmation::Barrier(written)).is_ok() {
            let _ = confirmations_written.await;
        }
    }
}

/// Awaits one hand-off's publish, counts it, and queues its confirmation;
/// a failed one is left to the reconciler.
async fn settle<T, E: std::fmt::Display>(
    publish: impl Future<Output = Result<T, E>>,
    id: JobId,
    version: DateTime<Utc>,
    confirmed: &mpsc::UnboundedSender<Confirmation>,
    metrics: &Metrics,
) {
    let result = publish.await;
    metrics.published(result.is_ok());
    match result {
        Ok(_) => {
            let _ = confirmed.send(Confirmation::Published(id, version));
        }
        Err(err) => {
            tracing::warn!(job_id = %id, error = %err, "publish failed; the reconciler will publish the job");
        }
    }
}

/// What the confirmation recorder is told.
#[derive(Debug)]
enum Confirmation {
    /// Pub/Sub accepted this job's message, published as the job was at this `updated_at`.
    Published(JobId, DateTime<Utc>),
    /// Answer once every confirmation sent before this one is written.
    Barrier(oneshot::Sender<()>),
}

/// The span of a hand-off of `jobs` messages, until Pub/Sub answers.
fn publish_span(jobs: usize) -> Span {
    tracing::info_span!(
        "publish",
        otel.name = "publish jobs",
        otel.kind = "producer",
        messaging.system = "gcp_pubsub",
        messaging.batch.message_count = jobs,
    )
}

/// The message of `message`, with `trace` (a trace context) among its attributes.
fn encode(
    message: &JobMessage,
    trace: HashMap<String, String>,
) -> Result<Message, serde_json::Error> {
    let data = serde_json::to_vec(message)?;
    Ok(Message::new()
        .set_data(data)
        .set_attributes(trace.into_iter().chain([
            ("job_id".to_owned(), message.job_id.to_string()),
            ("type".to_owned(), message.job_type.clone()),
        ])))
}

/// Marks published jobs in batches, so confirming costs a statement per batch, not per job.
async fn record_confirmations(
    store: JobStore,
    mut confirmations: mpsc::UnboundedReceiver<Confirmation>,
) {
    let mut batch = Vec::with_capacity(CONFIRM_BATCH);
    while confirmations.recv_many(&mut batch, CONFIRM_BATCH).await > 0 {
        let mut ids = Vec::with_capacity(batch.len());
        let mut barriers = Vec::new();
        for confirmation in batch.drain(..) {
            match confirmation {
                Confirmation::Published(id, version) => ids.push((id, version)),
                Confirmation::Barrier(written) => barriers.push(written),
            }
        }
        if !ids.is_empty()
            && let Err(err) = store.mark_published(&ids).await
        {
            // Unmarked jobs are only published again by the reconciler: a duplicate, never a loss.
            tracing::warn!(error = %err, jobs = ids.len(), "cannot record published jobs");
        }
        for written in barriers {
            let _ = written.send(());
        }
    }
}

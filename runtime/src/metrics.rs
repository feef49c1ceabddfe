//! The service's Prometheus metrics: one registry per process, shared by the
//! parts that count, rendered in the OpenMetrics text format by `GET /metrics`.
//!
//! Only what Cloud Run cannot see is counted here (request counts and
//! latencies it already reports): jobs submitted, handler runs and their
//! durations, delivery answers, publishes to Pub/Sub, and requests waiting
//! for a job to finish. Label values are job types (validated against the
//! registered ones before anything counts them) and fixed words, so the
//! series stay few.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SubmitLabels {
    r#type: String,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    r#type: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    subscription: &'static str,
    answer: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PublishLabels {
    result: &'static str,
}

/// The process's metrics; clones share one registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    submitted: Family<SubmitLabels, Counter>,
    runs: Family<RunLabels, Counter>,
    run_seconds: Family<RunLabels, Histogram>,
    deliveries: Family<DeliveryLabels, Counter>,
    published: Family<PublishLabels, Counter>,
    deleted: Counter,
    waiting: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (and so rendered) from the start.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("jobs");
        let submitted = Family::<SubmitLabels, Counter>::default();
        registry.register(
            "submitted",
            "Jobs submitted, by type and result (created or replayed under an idempotency key)",
            submitted.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "handler_runs",
            "Handler runs, by job type and outcome",
            runs.clone(),
        );
        // 5 ms to about 11 minutes, past the longest job timeout Pub/Sub allows.
        let run_seconds = Family::<RunLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.005, 2.0, 18))) as fn() -> Histogram,
        );
        registry.register(
            "handler_run_seconds",
            "Handler run time, by job type and outcome",
            run_seconds.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Pub/Sub push deliveries, by subscription and the answer given (an ack's outcome, or why it was nacked)",
            deliveries.clone(),
        );
        let published = Family::<PublishLabels, Counter>::default();
        registry.register(
            "pubsub_publishes",
            "Job messages published to Pub/Sub, by result; failed ones are published again by the reconciler",
            published.clone(),
        );
        let deleted = Counter::default();
        registry.register(
            "deleted",
            "Finished jobs deleted past their retention, with their events",
            deleted.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "waiting_requests",
            "Requests parked in GET /v1/jobs/{id}?wait_seconds until their job is final",
            waiting.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                submitted,
                runs,
                run_seconds,
                deliveries,
                published,
                deleted,
                waiting,
            }),
        }
    }

    /// Counts a submission of `job_type`; `replayed` when the idempotency key matched an earlier one.
    pub fn job_submitted(&self, job_type: &str, replayed: bool) {
        let result = if replayed { "replayed" } else { "created" };
        self.inner
            .submitted
            .get_or_create(&SubmitLabels {
                r#type: job_type.to_owned(),
                result,
            })
            .inc();
    }

    /// Counts a handler run of `job_type` that ended with `outcome` (its
    /// label, `jobs_domain::Outcome::label`) and records how long it took.
    pub fn handler_ran(&self, job_type: &str, outcome: &'static str, took: Duration) {
        let labels = RunLabels {
            r#type: job_type.to_owned(),
            outcome,
        };
        self.inner.runs.get_or_create(&labels).inc();
        self.inner
            .run_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts a push delivery on `subscription` (`jobs` or `dead_letter`) answered with `answer`.
    pub fn delivery_answered(&self, subscription: &'static str, answer: &'static str) {
        self.inner
            .deliveries
            .get_or_create(&DeliveryLabels {
                subscription,
                answer,
            })
            .inc();
    }

    /// Counts a publish of one job message.
    pub fn published(&self, succeeded: bool) {
        let result = if succeeded { "ok" } else { "failed" };
        self.inner
            .published
            .get_or_create(&PublishLabels { result })
            .inc();
    }

    /// Counts finished jobs deleted past their retention.
    pub fn jobs_deleted(&self, count: u64) {
        self.inner.deleted.inc_by(count);
    }

    /// Counts a request that began waiting for its job to finish.
    pub fn wait_began(&self) {
        self.inner.waiting.inc();
    }

    /// Counts a waiting request gone: answered, or its client left.
    pub fn wait_ended(&self) {
        self.inner.waiting.dec();
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an encoding error would be a bug here.
        if let Err(err) = encode(&mut text, &self.inner.registry) {
            tracing::error!(error = %err, "cannot encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|line| line.starts_with(prefix))
    }

    #[test]
    fn counts_are_rendered_with_their_labels() {
        let metrics = Metrics::new();
        metrics.job_submitted("noop", false);
        metrics.job_submitted("noop", false);
        metrics.job_submitted("noop", true);
        metrics.handler_ran("http", "retryable_error", Duration::from_millis(30));
        metrics.delivery_answered("jobs", "completed");
        metrics.published(false);
        metrics.jobs_deleted(3);
        let text = metrics.render();
        assert_eq!(
            line(
                &text,
                r#"jobs_submitted_total{type="noop",result="created"}"#
            ),
            Some(r#"jobs_submitted_total{type="noop",result="created"} 2"#),
            "{text}"
        );
        assert!(
            line(
                &text,
                r#"jobs_submitted_total{type="noop",result="replayed"} 1"#
            )
            .is_some()
        );
        assert!(
            line(
                &text,
                r#"jobs_handler_runs_total{type="http",outcome="retryable_error"} 1"#
            )
            .is_some()
        );
        assert!(
            line(
                &text,
                r#"jobs_handler_run_seconds_bucket{le="0.04",type="http",outcome="retryable_error"} 1"#
            )
            .is_some(),
            "{text}"
        );
        assert!(
            line(
                &text,
                r#"jobs_deliveries_total{subscription="jobs",answer="completed"} 1"#
            )
            .is_some()
        );
        assert!(line(&text, r#"jobs_pubsub_publishes_total{result="failed"} 1"#).is_some());
        assert!(line(&text, "jobs_deleted_total 3").is_some(), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn clones_share_one_registry() {
        let metrics = Metrics::new();
        metrics.clone().published(true);
        assert!(
            line(
                &metrics.render(),
                r#"jobs_pubsub_publishes_total{result="ok"} 1"#
            )
            .is_some()
        );
    }
}

//! Tracing set-up: Cloud Logging JSON in production, readable text locally,
//! and spans as OpenTelemetry spans, exported over OTLP when an endpoint is
//! set.
//!
//! Spans carry a W3C trace context whether or not they are exported, so a
//! job's trace id reaches its messages, its HTTP targets and the
//! `logging.googleapis.com/trace` field of its log lines either way. Without
//! an endpoint nothing is recorded: a span is recorded only when its caller's
//! `traceparent` says the trace is sampled, and then dropped.

use crate::cloud_logging::CloudLogging;
use crate::otlp::{self, ExporterError};
use crate::settings::{LogFormat, TraceSettings};
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use std::time::Duration;
use thiserror::Error;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};
use tracing_subscriber::{EnvFilter, fmt};

/// The most a stopping process waits for its last spans to be exported.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why logging or tracing could not be set up; start-up stops with it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A subscriber is already installed, or `RUST_LOG` does not parse: fix `RUST_LOG`.
    #[error("cannot install the log subscriber: {0}")]
    Subscriber(#[from] TryInitError),
    /// The exporter could not be built: fix `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// or, for Google's endpoint, the service account's credentials.
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT: {0}")]
    Exporter(#[from] ExporterError),
}

/// What a server's spans are: where they go, and whom they belong to.
#[derive(Debug, Clone, Copy)]
pub struct Traces<'a> {
    /// The export settings.
    pub settings: &'a TraceSettings,
    /// `service.name` unless `OTEL_SERVICE_NAME` says otherwise (`jobs-api`).
    pub service: &'a str,
    /// The Google Cloud project the `logging.googleapis.com/trace` field names.
    pub project: &'a str,
}

/// The tracing installed by [`init`]; [`Telemetry::shutdown`] exports what is left.
#[derive(Debug, Default)]
#[must_use = "shut down at exit, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans not yet sent and stops the exporter, within a bound;
    /// for the end of the process.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // Off the runtime: the exporter's thread blocks until its request,
        // which runs on this runtime, is answered.
        let stopped =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "the last spans were not all exported"),
            Err(err) => tracing::warn!(error = %err, "exporting the last spans failed"),
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` filters (default `info`), the
/// spans too: a span below that level is neither logged nor traced. With
/// `traces`, spans become OpenTelemetry spans, exported when the settings
/// name an endpoint (which needs a tokio runtime).
pub fn init(format: LogFormat, traces: Option<Traces<'_>>) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let provider = traces.map(tracer_provider).transpose()?;
    let spans = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("jobs")));
    let registry = tracing_subscriber::registry().with(filter).with(spans);
    match format {
        LogFormat::Json => registry
            .with(CloudLogging::stdout(traces.map(|traces| traces.project)))
            .try_init()?,
        LogFormat::Pretty => registry.with(fmt::layer().with_target(true)).try_init()?,
    }
    Ok(Telemetry { provider })
}

/// Every span sampled and exported in batches when there is an endpoint;
/// otherwise only the trace context, recorded for nothing unless a caller sampled it.
fn tracer_provider(traces: Traces<'_>) -> Result<SdkTracerProvider, ExporterError> {
    let service = traces
        .settings
        .service_name
        .clone()
        .unwrap_or_else(|| traces.service.to_owned());
    let resource = Resource::builder_empty()
        .with_service_name(service)
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            // The Telemetry API files spans under this project.
            KeyValue::new("gcp.project_id", traces.project.to_owned()),
        ])
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let Some(exporter) = otlp::exporter(traces.settings)? else {
        return Ok(builder
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .build());
    };
    let batches = BatchConfigBuilder::default()
        .with_scheduled_delay(traces.settings.export_delay)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batches)
        .build();
    // Every request is traced, a caller's unsampled `traceparent`
    // notwithstanding: a front end (Cloud Run's, a load balancer) may send
    // one on every request without sampling it.
    Ok(builder
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(processor)
        .build())
}

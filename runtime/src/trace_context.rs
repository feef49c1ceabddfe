//! W3C trace context (`traceparent`, `tracestate`) across the processes: read
//! from a request's headers and a Pub/Sub message's attributes, written into
//! the attributes of the messages a span publishes. HTTP targets get theirs
//! from the job types' crate. Spans only carry it when [`crate::telemetry`]
//! installed the OpenTelemetry layer; otherwise these change nothing.

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use std::time::Duration;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{
    DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, OnResponse, TraceLayer,
};
use tracing::field::Empty;
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace layer both servers wrap their routes in.
pub type HttpTraceLayer = TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    fn(&Request<Body>) -> Span,
    DefaultOnRequest,
    fn(&Response<Body>, Duration, &Span),
>;

/// A span per request ([`request_span`]) with its status recorded. A 5xx is
/// logged where it is answered, once (`jobs_problem::log_errors`), and a
/// worker's nack is a 409 or 503 by design, so failures are only DEBUG here.
pub fn http_layer() -> HttpTraceLayer {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<Body>) -> Span)
        .on_response(record_status as fn(&Response<Body>, Duration, &Span))
        .on_failure(DefaultOnFailure::new().level(Level::DEBUG))
}

/// The span of one request: at INFO, so the default `RUST_LOG` traces it,
/// named after its route (`POST /v1/jobs`), and continuing the trace of the
/// caller's `traceparent` when there is one.
pub fn request_span(request: &Request<Body>) -> Span {
    let method = request.method();
    let name = match request.extensions().get::<MatchedPath>() {
        Some(route) => format!("{method} {}", route.as_str()),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = %method,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    let caller = propagator().extract(&HeaderExtractor(request.headers()));
    continue_trace(&span, caller);
    span
}

/// Records the answer's status on the request's span, an error status for a 5xx.
fn record_status(response: &Response<Body>, latency: Duration, span: &Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    DefaultOnResponse::default().on_response(response, latency, span);
}

/// Makes `span` a child of the span whose context a message's `attributes`
/// carry (its publisher's), so its delivery continues the job's trace.
/// Without one, `span` stays where it is.
pub fn continue_from_message(span: &Span, attributes: Option<&HashMap<String, String>>) {
    if let Some(attributes) = attributes {
        continue_trace(span, propagator().extract(attributes));
    }
}

/// The attributes that carry `span`'s trace context to a message's
/// deliveries: none when it has no trace.
pub fn message_attributes(span: &Span) -> HashMap<String, String> {
    let mut attributes = HashMap::new();
    propagator().inject_context(&span.context(), &mut attributes);
    attributes
}

/// Sets `span`'s parent to the remote span in `caller`, if it has a valid one.
fn continue_trace(span: &Span, caller: opentelemetry::Context) {
    if caller.span().span_context().is_valid() {
        // Fails only when the span is disabled or already started; it then keeps its trace.
        let _ = span.set_parent(caller);
    }
}

fn propagator() -> TraceContextPropagator {
    TraceContextPropagator::new()
}

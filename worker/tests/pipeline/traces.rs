//! Traces: one job's trace runs from the API's submit through its Pub/Sub
//! message to the worker's delivery and the request to its target, exported
//! by both processes to an OTLP receiver.

use crate::harness::Stack;
use crate::otlp_receiver::{ReceivedSpan, Receiver};
use jobs_runtime::settings::{LogFormat, TraceSettings};
use jobs_runtime::telemetry::{self, Telemetry, Traces};
use sqlx::PgPool;
use std::time::Duration;

/// How the traced stack's worker receives its jobs.
enum Mode {
    Push,
    Pull,
}

/// The stack with both processes exporting to `receiver`, every 100 ms.
async fn traced_stack(pool: PgPool, receiver: &Receiver, mode: Mode) -> (Stack, Telemetry) {
    // The API runs in this process (its own per test under nextest).
    let settings = TraceSettings {
        endpoint: Some(receiver.url.parse().expect("receiver URL")),
        export_delay: Duration::from_millis(100),
        service_name: None,
    };
    let telemetry = telemetry::init(
        LogFormat::Pretty,
        Some(Traces {
            settings: &settings,
            service: "jobs-api",
            project: pubsub_emulator::DEFAULT_PROJECT,
        }),
    )
    .expect("tracing starts");
    let mut stack = Stack::without_emulator(pool).await;
    stack.set_worker_env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url);
    stack.set_worker_env("OTEL_BSP_SCHEDULE_DELAY", "100");
    // Spans below RUST_LOG's level are not traced; the harness's default is `warn`.
    stack.set_worker_env("RUST_LOG", "info");
    match mode {
        Mode::Push => {
            stack.start_emulator().await;
            stack.start_worker().await;
        }
        Mode::Pull => stack.start_pulling_worker().await,
    }
    (stack, telemetry)
}

/// The worker's delivery span of job `id`.
fn delivery_of<'a>(spans: &'a [ReceivedSpan], id: &str) -> Option<&'a ReceivedSpan> {
    spans.iter().find(|span| {
        span.service == "jobs-worker"
            && span.name == "delivery"
            && span.attributes.get("job_id").map(String::as_str) == Some(id)
    })
}

/// Submits a job to the target's `path`, waits until it completed, and
/// asserts the API's submit span and the worker's delivery span share one
/// trace; returns the two spans.
async fn completed_in_one_trace(
    stack: &Stack,
    receiver: &Receiver,
    path: &str,
) -> (ReceivedSpan, ReceivedSpan) {
    let id = stack.submit(&stack.target.job(path)).await;
    assert_eq!(stack.finished(&id).await["status"], "completed");
    let submit = receiver
        .wait_for("the API's submit span", |spans| {
            spans
                .iter()
                .find(|span| span.service == "jobs-api" && span.name == "POST /v1/jobs")
                .cloned()
        })
        .await;
    let delivery = receiver
        .wait_for("the worker's delivery span", |spans| {
            delivery_of(spans, &id).cloned()
        })
        .await;
    assert_eq!(
        delivery.trace_id, submit.trace_id,
        "one trace: {submit:?} {delivery:?}"
    );
    (submit, delivery)
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_jobs_trace_runs_from_its_submit_through_its_delivery_to_its_target(pool: PgPool) {
    let receiver = Receiver::start().await;
    let (stack, telemetry) = traced_stack(pool, &receiver, Mode::Push).await;
    let (submit, delivery) = completed_in_one_trace(&stack, &receiver, "/ok/traced").await;
    assert_eq!(submit.attributes["http.response.status_code"], "202");

    // submit -> publish (until Pub/Sub answers) -> delivery.
    let publish = receiver
        .wait_for("the API's publish span", |spans| {
            spans
                .iter()
                .find(|span| span.name == "publish jobs" && span.trace_id == submit.trace_id)
                .cloned()
        })
        .await;
    assert_eq!(publish.service, "jobs-api");
    assert_eq!(publish.parent_span_id, submit.span_id);
    assert_eq!(delivery.parent_span_id, publish.span_id);

    // The target was told the trace, naming the worker's span of the request.
    let traceparent = stack
        .target
        .traceparent("/ok/traced")
        .expect("the target received a traceparent");
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[1], submit.trace_id, "{traceparent}");
    let outbound = receiver
        .wait_for("the worker's span of the target request", |spans| {
            spans.iter().find(|span| span.span_id == fields[2]).cloned()
        })
        .await;
    assert_eq!(outbound.service, "jobs-worker");
    assert_eq!(outbound.trace_id, submit.trace_id);
    telemetry.shutdown().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_submit_with_a_traceparent_continues_the_callers_trace_into_the_worker(pool: PgPool) {
    let receiver = Receiver::start().await;
    let (stack, telemetry) = traced_stack(pool, &receiver, Mode::Push).await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = stack
        .client
        .post(format!("{}/v1/jobs", stack.api))
        .bearer_auth(&stack.api_key)
        // Unsampled by the caller: traced all the same, since this service exports.
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-00"))
        .json(&serde_json::json!({"type": "noop", "payload": {}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(response.status(), 202);
    let job: serde_json::Value = response.json().await.expect("job");
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(stack.finished(&id).await["status"], "completed");

    let submit = receiver
        .wait_for("the API's submit span", |spans| {
            spans
                .iter()
                .find(|span| span.name == "POST /v1/jobs")
                .cloned()
        })
        .await;
    assert_eq!(submit.trace_id, caller_trace);
    assert_eq!(submit.parent_span_id, caller_span);
    let delivery = receiver
        .wait_for("the worker's delivery span", |spans| {
            delivery_of(spans, &id).cloned()
        })
        .await;
    assert_eq!(delivery.trace_id, caller_trace);
    telemetry.shutdown().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_pulled_jobs_delivery_continues_its_submits_trace(pool: PgPool) {
    let receiver = Receiver::start().await;
    let (stack, telemetry) = traced_stack(pool, &receiver, Mode::Pull).await;
    completed_in_one_trace(&stack, &receiver, "/ok/pulled").await;
    telemetry.shutdown().await;
}

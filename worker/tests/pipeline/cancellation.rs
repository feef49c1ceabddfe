//! Cancelling a running job through the real processes: the API records the
//! request (202), a trigger's notice reaches the worker running the job, which
//! stops the handler (a `sleep` at once, a target's request dropped) and ends
//! the job `cancelled`. A handler that finishes first keeps its outcome; a
//! notice the worker missed reaches it at its next heartbeat; a job whose
//! worker died is cancelled, not run again.

use crate::harness::{GUARD, Stack};
use crate::job_types::define;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How soon a cancel must stop a running job.
const WITHIN: Duration = Duration::from_secs(2);

/// `POST /v1/jobs/{id}/cancel`: the status and the job answered.
async fn cancel(stack: &Stack, id: &str) -> (u16, Value) {
    let response = stack
        .client
        .post(format!("{}/v1/jobs/{id}/cancel", stack.api))
        .bearer_auth(&stack.api_key)
        .send()
        .await
        .expect("cancel");
    let status = response.status().as_u16();
    (status, response.json().await.expect("job"))
}

/// The job's events as `(event, detail)` pairs.
async fn events_with_details(stack: &Stack, id: &str) -> Vec<(String, Option<String>)> {
    let body = stack.get(&format!("/v1/jobs/{id}/events")).await;
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["detail"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn names(events: &[(String, Option<String>)]) -> Vec<&str> {
    events.iter().map(|(event, _)| event.as_str()).collect()
}

/// The worker's `/metrics` text.
async fn worker_metrics(stack: &Stack) -> String {
    stack
        .client
        .get(format!("{}/metrics", stack.worker_url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// Makes the workers deaf to cancel notices, as if every one were missed: only
/// heartbeats find cancel requests then.
async fn drop_cancel_notices(pool: &PgPool) {
    sqlx::query("drop trigger jobs_notify_cancel_requested on jobs")
        .execute(pool)
        .await
        .expect("drop the trigger");
}

/// Asks to cancel the running job `id` and checks the 202.
async fn cancel_running(stack: &Stack, id: &str) {
    let (status, job) = cancel(stack, id).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["status"], "processing", "{job}");
    assert!(job["cancel_requested_at"].is_string(), "{job}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancelling_a_running_sleep_of_30_s_ends_it_cancelled_within_2_s_and_frees_its_worker(
    pool: PgPool,
) {
    let stack = Stack::start(pool).await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 30_000}, "timeout_seconds": 60}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    let asked = Instant::now();
    cancel_running(&stack, &id).await;
    let job = stack.finished(&id).await;
    let took = asked.elapsed();
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(took < WITHIN, "cancelled after {took:?}");
    assert_eq!(
        (job["attempts"].as_i64(), &job["result"]),
        (Some(1), &Value::Null)
    );
    let events = events_with_details(&stack, &id).await;
    assert_eq!(
        names(&events),
        ["submitted", "claimed", "cancel_requested", "cancelled"]
    );
    assert_eq!(
        events[3].1.as_deref(),
        Some("cancelled while running: the worker stopped attempt 1")
    );

    // The handler's run ended and its push was answered (acked): the slot is free.
    let metrics = worker_metrics(&stack).await;
    assert!(
        metrics.contains(r#"jobs_handler_runs_total{type="sleep",outcome="cancelled"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"answer="cancelled"} 1"#), "{metrics}");
    // And the same worker runs the next job right after.
    let next = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 10}}))
        .await;
    let started = Instant::now();
    assert_eq!(stack.finished(&next).await["status"], "completed");
    assert!(started.elapsed() < WITHIN, "{:?}", started.elapsed());
}

/// A target that reads each request and never answers, noting when a
/// request came in and when its caller closed the connection.
#[derive(Clone, Default)]
struct Hanging {
    url: String,
    seen: Arc<Mutex<(Option<Instant>, Option<Instant>)>>,
}

impl Hanging {
    async fn start() -> Hanging {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let hanging = Hanging {
            url: format!("http://{}/report", listener.local_addr().expect("addr")),
            ..Hanging::default()
        };
        let seen = hanging.seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                buffer.extend_from_slice(&chunk[..n]);
                                if buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                                    let mut seen =
                                        seen.lock().unwrap_or_else(PoisonError::into_inner);
                                    seen.0.get_or_insert_with(Instant::now);
                                }
                            }
                        }
                    }
                    // Never answered: the caller hung up.
                    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    seen.1.get_or_insert_with(Instant::now);
                });
            }
        });
        hanging
    }

    fn seen(&self) -> (Option<Instant>, Option<Instant>) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn wait(&self, what: &str, done: impl Fn((Option<Instant>, Option<Instant>)) -> bool) {
        tokio::time::timeout(GUARD, async {
            while !done(self.seen()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the target never saw {what}"));
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancelling_a_running_target_job_drops_its_request(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let hanging = Hanging::start().await;
    define(
        &stack,
        "slow.report",
        &json!({"handler": {"target": {"url": hanging.url}}}),
    )
    .await;
    let id = stack
        .submit(&json!({"type": "slow.report", "payload": {}, "timeout_seconds": 60}))
        .await;
    hanging
        .wait("the request", |(received, _)| received.is_some())
        .await;
    assert_eq!(hanging.seen().1, None, "the request is held open");
    let asked = Instant::now();
    cancel_running(&stack, &id).await;
    hanging
        .wait("the connection closed", |(_, closed)| closed.is_some())
        .await;
    let (_, closed) = hanging.seen();
    let took = closed.map(|closed| closed.duration_since(asked));
    assert!(
        took.is_some_and(|took| took < WITHIN),
        "dropped after {took:?}"
    );
    let job = stack.finished(&id).await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("cancelled"), Some(1))
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_handler_that_finishes_before_the_cancel_reaches_it_keeps_its_outcome(pool: PgPool) {
    // The worker hears no notice and beats every 5 s: the 1.5 s sleep ends
    // before anything tells it of the cancel.
    drop_cancel_notices(&pool).await;
    let mut stack = Stack::without_emulator(pool).await;
    stack.set_worker_env("LEASE_HEARTBEAT_SECONDS", "5");
    stack.start_emulator().await;
    stack.start_worker().await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 1500}, "timeout_seconds": 60}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    cancel_running(&stack, &id).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({"slept_ms": 1500}));
    assert!(
        job["cancel_requested_at"].is_string(),
        "the request is kept: {job}"
    );
    let events = events_with_details(&stack, &id).await;
    assert_eq!(
        names(&events),
        ["submitted", "claimed", "cancel_requested", "succeeded"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_cancel_notice_the_worker_missed_reaches_it_at_its_next_heartbeat(pool: PgPool) {
    drop_cancel_notices(&pool).await;
    let mut stack = Stack::without_emulator(pool).await;
    stack.set_worker_env("LEASE_HEARTBEAT_SECONDS", "0.5");
    stack.start_emulator().await;
    stack.start_worker().await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 30_000}, "timeout_seconds": 60}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    let asked = Instant::now();
    cancel_running(&stack, &id).await;
    let job = stack.finished(&id).await;
    let took = asked.elapsed();
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(took < WITHIN, "cancelled after {took:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_running_job_cancelled_while_its_worker_is_dead_is_cancelled_not_run_again(pool: PgPool) {
    let mut stack = Stack::start(pool).await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 30_000}, "timeout_seconds": 60}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    stack.kill_worker().await;
    cancel_running(&stack, &id).await;
    stack.start_worker().await;
    // The lease expires, the reconciler publishes the job again, and the
    // delivery cancels it instead of claiming it.
    let job = stack.finished(&id).await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("cancelled"), Some(1))
    );
    let events = events_with_details(&stack, &id).await;
    assert_eq!(
        names(&events),
        ["submitted", "claimed", "cancel_requested", "cancelled"]
    );
    assert_eq!(
        events[3].1.as_deref(),
        Some("cancel requested while running; cancelled instead of running again")
    );
    let (status, _) = cancel(&stack, &id).await;
    assert_eq!(status, 409, "a finished job cannot be cancelled");
}

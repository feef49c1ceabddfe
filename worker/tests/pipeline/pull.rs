//! The worker in pull mode (`WORKER_MODE=pull`): it streams the jobs from a
//! pull subscription, and a job's life is the one it has in push mode.

use crate::concurrency::fifty_jobs_for_one_account_run_one_at_a_time;
use crate::harness::{GUARD, Stack};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jobs_domain::job_message::{DEAD_LETTER_SUBSCRIPTION, JOBS_TOPIC};
use jobs_worker::settings::PULL_SUBSCRIPTION;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

const JOBS: usize = 100;

/// The count of a `jobs_deliveries_total` series of the worker, 0 when absent.
async fn answered(stack: &Stack, answer: &str) -> u64 {
    let series = format!(r#"jobs_deliveries_total{{subscription="jobs",answer="{answer}"}} "#);
    stack
        .worker_metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |count| count.trim().parse().expect("a count"))
}

/// Waits, within the guard, until `done` holds.
async fn eventually(what: &str, done: impl AsyncFn() -> bool) {
    tokio::time::timeout(GUARD, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_many_jobs_submitted_over_http_all_complete_exactly_once(pool: PgPool) {
    let stack = Stack::start_pulling(pool).await;
    let paths: Vec<String> = (0..JOBS).map(|i| format!("/ok/pulled-{i}")).collect();
    let ids = futures::future::join_all(
        paths
            .iter()
            .map(|path| async { stack.submit(&stack.target.job(path)).await }),
    )
    .await;
    for (id, path) in ids.iter().zip(&paths) {
        let job = stack.finished(id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
        assert_eq!(stack.target.hits(path), 1, "{path} ran once");
    }
    assert_eq!(answered(&stack, "completed").await, JOBS as u64);
    let emulator = stack.emulator.as_ref().expect("emulator");
    eventually("every pulled message is acked", async || {
        emulator.stats().subscription(PULL_SUBSCRIPTION).backlog == 0
    })
    .await;
    let stats = emulator.stats().subscription(PULL_SUBSCRIPTION);
    assert_eq!(stats.expired, 0, "no ack deadline passed");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_a_handler_failing_twice_then_succeeding_ends_completed_after_three_attempts(
    pool: PgPool,
) {
    let stack = Stack::start_pulling(pool).await;
    let id = stack.submit(&stack.target.job("/flaky/2/pulled")).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 3);
    assert_eq!(stack.target.hits("/flaky/2/pulled"), 3);
    let events: Vec<String> = stack
        .events(&id)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(
        events,
        [
            "submitted",
            "claimed",
            "failed_retryable",
            "claimed",
            "failed_retryable",
            "claimed",
            "succeeded"
        ]
    );
    assert_eq!(answered(&stack, "job-retrying").await, 2, "two nacks");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_a_job_that_always_fails_gets_all_its_attempts_across_dead_letters(
    pool: PgPool,
) {
    let stack = Stack::start_pulling(pool).await;
    let mut body = stack.target.job("/fail/pulled");
    body["max_attempts"] = json!(10);
    let id = stack.submit(&body).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["failure_reason"], "attempts_exhausted");
    assert_eq!(job["attempts"], 10);
    assert_eq!(stack.target.hits("/fail/pulled"), 10);
    let events = stack.events(&id).await;
    assert!(events.iter().any(|(e, _)| e == "requeued"), "{events:?}");
    // The pulled messages were dead-lettered after their deliveries, and the
    // dead-letters pushed to the worker, which acked each. The last pulled
    // message's ack leaves in the subscriber's next batch.
    let emulator = stack.emulator.as_ref().expect("emulator");
    eventually("the last pulled message is acked", async || {
        emulator.stats().subscription(PULL_SUBSCRIPTION).backlog == 0
    })
    .await;
    let stats = emulator.stats();
    let pulled = stats.subscription(PULL_SUBSCRIPTION);
    assert!(pulled.dead_lettered >= 1, "{}", pulled.dead_lettered);
    assert_eq!(
        stats.subscription(DEAD_LETTER_SUBSCRIPTION).acks,
        pulled.dead_lettered
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_a_job_running_past_the_ack_deadline_is_not_redelivered_while_it_runs(
    pool: PgPool,
) {
    let stack = Stack::start_pulling(pool).await;
    // The stream's ack deadline is 10 s (PULL_ACK_DEADLINE_SECONDS): only
    // the subscriber's extensions keep the message from coming back.
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 13_000}, "timeout_seconds": 60}))
        .await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempts"], 1);
    let claims = stack
        .events(&id)
        .await
        .iter()
        .filter(|(e, _)| e == "claimed")
        .count();
    assert_eq!(claims, 1);
    let stats = stack
        .emulator
        .as_ref()
        .expect("emulator")
        .stats()
        .subscription(PULL_SUBSCRIPTION);
    assert_eq!(stats.expired, 0, "the deadline was extended while it ran");
    assert_eq!(
        answered(&stack, "job-busy").await,
        0,
        "no redelivery met it"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_a_duplicate_of_a_running_job_is_nacked_busy_and_spends_no_attempt(
    pool: PgPool,
) {
    let stack = Stack::start_pulling(pool).await;
    let defined = stack
        .client
        .put(format!("{}/v1/job-types/report", stack.api))
        .bearer_auth(&stack.api_key)
        .json(&json!({"handler": {"target": {"url": format!("{}/overlap", stack.target.url)}}}))
        .send()
        .await
        .expect("put job type");
    assert_eq!(defined.status(), 201);
    let id = stack
        .submit(&json!({"type": "report", "payload": {"account_id": "acct-busy", "hold": "busy"}}))
        .await;
    eventually("the job runs", async || {
        stack.target.runs("acct-busy").running == 1
    })
    .await;
    // A second message for the running job, as a republish would send.
    let emulator = stack.emulator.as_ref().expect("emulator");
    let data = STANDARD.encode(json!({"job_id": id, "type": "report"}).to_string());
    let published = stack
        .client
        .post(format!(
            "{}/v1/projects/{}/topics/{JOBS_TOPIC}:publish",
            emulator.endpoint(),
            pubsub_emulator::DEFAULT_PROJECT
        ))
        .json(&json!({"messages": [{"data": data}]}))
        .send()
        .await
        .expect("publish");
    assert!(published.status().is_success());
    eventually("the duplicate is nacked busy", async || {
        answered(&stack, "job-busy").await >= 1
    })
    .await;
    stack.target.open("busy");
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 1, "a busy delivery spends no attempt");
    assert_eq!(stack.target.runs("acct-busy").calls, 1);
    eventually("the duplicate is acked once the job is done", async || {
        answered(&stack, "duplicate").await >= 1
    })
    .await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_fifty_jobs_for_one_account_with_limit_1_never_overlap_and_spend_no_attempt_waiting(
    pool: PgPool,
) {
    let stack = Stack::start_pulling(pool).await;
    fifty_jobs_for_one_account_run_one_at_a_time(&stack).await;
    assert!(answered(&stack, "deferred").await >= 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn in_pull_mode_sigterm_lets_the_running_job_finish_and_the_worker_exit_cleanly(
    pool: PgPool,
) {
    let mut stack = Stack::start_pulling(pool).await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 1_500}}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    assert!(stack.terminate_worker().await, "the worker exits with 0");
    // Its outcome was written before the process ended, not by a later worker.
    let job = stack.job(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempts"], 1);
}

//! Periodic schedules end to end: the reconciler's leader enqueues each
//! occurrence once, through a leader's SIGKILL and another worker's takeover.

use crate::harness::{GUARD, Stack};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;

/// The jobs a schedule enqueued, newest first (one page holds them all here).
async fn scheduled_jobs(stack: &Stack, name: &str) -> Vec<Value> {
    let page = stack
        .get(&format!("/v1/jobs?schedule={name}&limit=100"))
        .await;
    assert!(
        page["next_page_token"].is_null(),
        "more than a page: {page}"
    );
    page["jobs"].as_array().cloned().expect("jobs")
}

fn run_at(job: &Value) -> DateTime<Utc> {
    job["run_at"]
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("no run_at: {job}"))
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_every_second_schedule_enqueues_each_second_once_while_its_leader_is_killed_and_another_worker_takes_over(
    pool: PgPool,
) {
    // The one worker leads the reconciler.
    let mut stack = Stack::start(pool).await;
    let created = stack
        .client
        .put(format!("{}/v1/schedules/heartbeat", stack.api))
        .bearer_auth(&stack.api_key)
        .json(&json!({"cron": "* * * * * *", "timezone": "UTC",
                      "job": {"type": "noop", "payload": {"beat": true}}}))
        .send()
        .await
        .expect("put");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let window_start = DateTime::parse_from_rfc3339(created["created_at"].as_str().expect("time"))
        .expect("created_at")
        .with_timezone(&Utc);
    let window_end = window_start + chrono::Duration::seconds(10);

    // Its first job shows the leader at work; then a second worker joins as a follower.
    tokio::time::timeout(GUARD, async {
        while scheduled_jobs(&stack, "heartbeat").await.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the leader enqueues the first occurrence");
    stack.start_another_worker().await;
    let kill_at = window_start + chrono::Duration::seconds(4);
    sleep_until(kill_at).await;
    stack.kill_worker().await;
    let killed = Utc::now();

    // Past the window, and a second more for its last occurrence's enqueue.
    sleep_until(window_end + chrono::Duration::seconds(1)).await;
    assert_eq!(stack.post("/v1/schedules/heartbeat/pause").await, 200);

    let jobs = scheduled_jobs(&stack, "heartbeat").await;
    let mut slots = HashSet::new();
    for job in &jobs {
        assert_eq!(job["schedule"], "heartbeat");
        let key = job["idempotency_key"].as_str().expect("a slot key");
        assert!(slots.insert(key.to_owned()), "slot {key} enqueued twice");
        assert_eq!(
            key,
            format!(
                "schedule:heartbeat:{}",
                run_at(job).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        );
    }
    let in_window = jobs
        .iter()
        .filter(|job| (window_start..window_end).contains(&run_at(job)))
        .count();
    assert!(
        (9..=11).contains(&in_window),
        "{in_window} jobs in the 10 s window, of {}",
        jobs.len()
    );
    assert!(
        jobs.iter().any(|job| run_at(job) > killed),
        "the other worker took over after the kill"
    );
    let schedule = stack.get("/v1/schedules/heartbeat").await;
    assert_eq!(schedule["last_job_id"], jobs[0]["id"], "newest first");
}

/// Sleeps until the wall clock reaches `at` (at once when it has).
async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

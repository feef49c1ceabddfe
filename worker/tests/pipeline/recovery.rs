use crate::harness::{GUARD, Stack};
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_worker_killed_mid_job_still_completes_the_job(pool: PgPool) {
    let mut stack = Stack::start(pool).await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 1500}, "timeout_seconds": 3}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    stack.kill_worker().await;
    stack.start_worker().await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(
        job["attempts"], 2,
        "the killed attempt and the one that finished"
    );
    let events: Vec<String> = stack
        .events(&id)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(
        events,
        ["submitted", "claimed", "lease_expired", "succeeded"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn submits_while_pub_sub_is_down_are_accepted_and_complete_once_it_is_back(pool: PgPool) {
    let mut stack = Stack::without_emulator(pool).await;
    stack.start_worker().await;
    let ids = [
        stack.submit(&json!({"type": "noop", "payload": {}})).await,
        stack.submit(&json!({"type": "noop", "payload": {}})).await,
    ];
    for id in &ids {
        assert_eq!(stack.job(id).await["status"], "pending");
    }
    stack.start_emulator().await;
    for id in &ids {
        assert_eq!(stack.finished(id).await["status"], "completed");
    }
}

/// How long after a SIGKILL the job's next attempt claims it: the time from
/// the kill to the redelivery's `lease_expired` event, for a job whose
/// timeout (300 s) is far longer than it runs. Printed, not asserted: the
/// figures are in the change's note. `RECOVERY_HEARTBEAT_SECONDS` sets the
/// workers' heartbeat (the stack's 1 s by default; `10` is production's), and
/// `RECOVERY_BOUND_SECONDS` how long to wait (90 s; over 300 s to measure a
/// build whose lease outlives the timeout).
#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_sigkilled_workers_job_runs_again_long_before_its_timeout(pool: PgPool) {
    let mut stack = Stack::without_emulator(pool).await;
    if let Ok(heartbeat) = std::env::var("RECOVERY_HEARTBEAT_SECONDS") {
        stack.set_worker_env("LEASE_HEARTBEAT_SECONDS", &heartbeat);
    }
    stack.start_emulator().await;
    stack.start_worker().await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 2000}, "timeout_seconds": 300}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    stack.kill_worker().await;
    let killed = Instant::now();
    stack.start_worker().await;
    let bound = std::env::var("RECOVERY_BOUND_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map_or(GUARD, Duration::from_secs);
    tokio::time::timeout(bound, async {
        while !stack
            .events(&id)
            .await
            .iter()
            .any(|(event, _)| event == "lease_expired")
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the job is claimed again");
    let recovered = killed.elapsed();
    eprintln!(
        "recovery: {:.2} s from the SIGKILL to the redelivery's claim",
        recovered.as_secs_f64()
    );
    let job = stack.finished(&id).await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("completed"), Some(2))
    );
}

/// The job's lease by the database clock: seconds left, and its expiry.
async fn lease(pool: &PgPool, id: &str) -> Option<(f64, chrono::DateTime<chrono::Utc>)> {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    sqlx::query_as(
        "select extract(epoch from lease_expires_at - now())::float8, lease_expires_at
         from jobs where id = $1 and lease_expires_at is not null",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .expect("lease")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn heartbeats_extend_the_lease_while_a_job_runs_longer_than_three_heartbeats(pool: PgPool) {
    // The stack's heartbeat is 1 s, so the lease reaches 3 s ahead; the job runs 5 s.
    let stack = Stack::start(pool.clone()).await;
    let id = stack
        .submit(&json!({"type": "sleep", "payload": {"ms": 5000}, "timeout_seconds": 60}))
        .await;
    stack
        .wait_until(&id, "processing", |job| job["status"] == "processing")
        .await;
    let mut expiries = std::collections::BTreeSet::new();
    tokio::time::timeout(GUARD, async {
        while let Some((left, expires)) = lease(&pool, &id).await {
            assert!(left > 0.0, "the lease expired mid-run ({left} s)");
            assert!(
                left <= 3.1,
                "a few heartbeats ahead, not the timeout: {left} s"
            );
            expiries.insert(expires);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the job ends");
    assert!(
        expiries.len() >= 4,
        "extended by each heartbeat: {expiries:?}"
    );
    let job = stack.finished(&id).await;
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_i64()),
        (Some("completed"), Some(1)),
        "no second claim"
    );
    let events: Vec<String> = stack
        .events(&id)
        .await
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(events, ["submitted", "claimed", "succeeded"]);
}

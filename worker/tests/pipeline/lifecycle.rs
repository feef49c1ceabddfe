use crate::harness::Stack;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_submitted_job_runs_to_completed_with_its_history(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let id = stack.submit(&stack.target.job("/ok/first")).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["result"]["status"], 200);
    assert_eq!(stack.target.hits("/ok/first"), 1);
    let to: Vec<String> = stack
        .events(&id)
        .await
        .into_iter()
        .map(|(_, to)| to)
        .collect();
    assert_eq!(to, ["pending", "processing", "completed"]);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_handler_failing_twice_then_succeeding_ends_completed_after_three_attempts(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let id = stack.submit(&stack.target.job("/flaky/2/a")).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 3);
    assert_eq!(stack.target.hits("/flaky/2/a"), 3);
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
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn delayed_jobs_run_at_run_at_not_before(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let id = stack
        .submit(&json!({"type": "noop", "payload": {}, "delay_seconds": 2}))
        .await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    let run_at = chrono::DateTime::parse_from_rfc3339(job["run_at"].as_str().expect("run_at"))
        .expect("run_at");
    let started =
        chrono::DateTime::parse_from_rfc3339(job["started_at"].as_str().expect("started"))
            .expect("started_at");
    assert!(
        started >= run_at,
        "started {started} before run_at {run_at}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_cancelled_job_never_runs_and_a_retried_failed_job_runs_again(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let mut delayed = stack.target.job("/ok/cancelled");
    delayed["delay_seconds"] = json!(1);
    let cancelled = stack.submit(&delayed).await;
    assert_eq!(
        stack.post(&format!("/v1/jobs/{cancelled}/cancel")).await,
        200
    );
    // A twin submitted later with the same delay: once it has run, the cancelled one would have too.
    delayed["payload"]["url"] = json!(format!("{}/ok/twin", stack.target.url));
    let twin = stack.submit(&delayed).await;
    assert_eq!(stack.finished(&twin).await["status"], "completed");
    assert_eq!(stack.job(&cancelled).await["status"], "cancelled");
    assert_eq!(stack.target.hits("/ok/cancelled"), 0);

    let gated = stack.submit(&stack.target.job("/gate/g")).await;
    assert_eq!(stack.finished(&gated).await["status"], "failed");
    stack.target.open("g");
    assert_eq!(stack.post(&format!("/v1/jobs/{gated}/retry")).await, 200);
    let job = stack
        .wait_until(&gated, "completed", |job| job["status"] == "completed")
        .await;
    assert_eq!(job["attempts"], 2);
    assert_eq!(stack.target.hits("/gate/g"), 2);
}

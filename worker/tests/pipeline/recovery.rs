use crate::harness::Stack;
use serde_json::json;
use sqlx::PgPool;

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

use crate::harness::Stack;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_same_message_delivered_twice_concurrently_runs_the_handler_once(pool: PgPool) {
    let mut stack = Stack::without_emulator(pool).await;
    stack.start_worker().await;
    // Pub/Sub is not running: only the two deliveries below reach the worker.
    let id = stack
        .submit(
            &json!({"type": "http", "payload": {"url": format!("{}/ok/twice", stack.target.url)}}),
        )
        .await;
    let data = STANDARD.encode(json!({"job_id": id, "type": "http"}).to_string());
    let envelope = json!({
        "message": {
            "data": data, "attributes": {"job_id": id, "type": "http"},
            "messageId": "42", "publishTime": "2026-11-23T10:00:00Z"
        },
        "subscription": "projects/local-project/subscriptions/jobs-worker",
        "deliveryAttempt": 1
    });
    let url = format!("{}/pubsub/push", stack.worker_url());
    let (a, b) = tokio::join!(
        stack.client.post(&url).json(&envelope).send(),
        stack.client.post(&url).json(&envelope).send(),
    );
    let statuses = [a.expect("first").status(), b.expect("second").status()];
    assert!(statuses.iter().any(|s| s.is_success()), "{statuses:?}");
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["attempts"], 1);
    assert_eq!(stack.target.hits("/ok/twice"), 1);
}

use crate::helpers::{
    WorkerOptions, assert_ack, assert_problem, envelope, envelope_with, events, serve, spawn_worker,
};
use jobs_domain::{FailureReason, JobId, JobStatus};
use jobs_worker::push_envelope::DEAD_LETTER_DELIVERY_COUNT;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// A dead-lettered message as Pub/Sub forwards it: the original attributes
/// plus the delivery count, on the dead-letter subscription, as a message of
/// its own (each forward has a new message id).
fn dead_lettered(job_id: JobId, deliveries: u32) -> Value {
    let mut body = envelope(job_id, "noop", 1);
    let message_id = uuid::Uuid::new_v4().to_string();
    body["message"]["messageId"] = json!(message_id);
    body["message"]["message_id"] = json!(message_id);
    body["message"]["attributes"][DEAD_LETTER_DELIVERY_COUNT] = json!(deliveries.to_string());
    body["subscription"] = json!("projects/test-project/subscriptions/jobs-dead-letter-worker");
    body
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_dead_lettered_job_with_attempts_left_is_requeued_and_spends_no_attempt(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 5, 30).await;

    let response = worker
        .post(
            "/pubsub/dead-letter",
            dead_lettered(job.id, 5).to_string(),
            None,
        )
        .await;

    assert_ack(response, "requeued").await;
    let after = worker.job(job.id).await;
    assert_eq!((after.status, after.attempts), (JobStatus::Pending, 0));
    assert_eq!((after.error, after.failure_reason), (None, None));
    assert!(after.run_at > job.run_at, "published again after a delay");
    let history = worker.history(job.id).await;
    assert_eq!(events(&history), ["submitted", "requeued"]);
    let detail = history
        .last()
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    assert!(
        detail.starts_with("dead-lettered after 5 delivery attempts; requeued (1 of 5)"),
        "{detail}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_dead_lettered_past_the_limit_without_an_attempt_is_failed_with_the_detail(
    pool: PgPool,
) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 5, 30).await;
    let dead_letter = || {
        worker.post(
            "/pubsub/dead-letter",
            dead_lettered(job.id, 5).to_string(),
            None,
        )
    };

    for _ in 0..5 {
        assert_ack(dead_letter().await, "requeued").await;
    }
    assert_ack(dead_letter().await, "dead_lettered").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(after.failure_reason, Some(FailureReason::DeadLettered));
    assert_eq!(
        after.error.as_deref(),
        Some("dead-lettered after 5 delivery attempts")
    );
    let history = worker.history(job.id).await;
    assert_eq!(
        history.last().map(|e| e.event.as_str()),
        Some("dead_lettered")
    );
    assert_eq!(after.attempts, 0, "the outage spent no attempt");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_delivery_attempt_counts_when_the_attribute_is_missing(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 5, 30).await;

    let body = envelope(job.id, "noop", 7).to_string();
    assert_ack(
        worker.post("/pubsub/dead-letter", body, None).await,
        "requeued",
    )
    .await;

    let history = worker.history(job.id).await;
    let detail = history
        .last()
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    assert!(
        detail.starts_with("dead-lettered after 7 delivery attempts"),
        "{detail}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_dead_letter_for_an_unknown_job_is_acked(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let body = dead_lettered(JobId::new(), 5).to_string();

    assert_ack(
        worker.post("/pubsub/dead-letter", body, None).await,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_dead_letter_for_a_finished_job_is_acked_and_changes_nothing(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 5, 30).await;
    assert_ack(worker.push(&job).await, "completed").await;
    let before = worker.job(job.id).await;

    let body = dead_lettered(job.id, 5).to_string();
    assert_ack(
        worker.post("/pubsub/dead-letter", body, None).await,
        "dead_lettered",
    )
    .await;

    assert_eq!(worker.job(job.id).await, before);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_malformed_dead_letter_is_acked(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    for body in [
        "{".to_owned(),
        envelope_with(json!("@@@"), json!({}), 5).to_string(),
    ] {
        assert_ack(
            worker.post("/pubsub/dead-letter", body, None).await,
            "malformed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_database_outage_nacks_deliveries_and_dead_letters_with_503() {
    // Nothing listens on port 1, so every connection attempt fails.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let address = serve(pool, WorkerOptions::default()).await;
    let client = reqwest::Client::new();
    for path in ["/pubsub/push", "/pubsub/dead-letter"] {
        let response = client
            .post(format!("{address}{path}"))
            .body(envelope(JobId::new(), "noop", 1).to_string())
            .send()
            .await
            .expect("send");
        assert_eq!(response.headers()["retry-after"], "10");
        assert_problem(response, 503, "unavailable").await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_redelivered_dead_letter_counts_once_so_the_job_keeps_its_requeues(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 5, 30).await;
    // One dead-letter whose answer Pub/Sub did not get in time, delivered
    // again and again: more times than the requeue limit.
    let body = dead_lettered(job.id, 5).to_string();

    for _ in 0..7 {
        assert_ack(
            worker.post("/pubsub/dead-letter", body.clone(), None).await,
            "requeued",
        )
        .await;
    }

    let after = worker.job(job.id).await;
    assert_eq!((after.status, after.attempts), (JobStatus::Pending, 0));
    assert_eq!(after.failure_reason, None);
    let history = worker.history(job.id).await;
    assert_eq!(events(&history), ["submitted", "requeued"]);
}

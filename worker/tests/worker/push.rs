use crate::helpers::{
    WorkerOptions, assert_ack, assert_problem, envelope, envelope_with, events, spawn_worker,
    spawn_worker_with,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jobs_domain::{FailureReason, JobId, JobStatus};
use jobs_job_types::{Registry, Sleep};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_push_of_a_pending_noop_job_completes_it(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker
        .insert_job("noop", json!({"hello": "world"}), 3, 30)
        .await;

    let ack = assert_ack(worker.push(&job).await, "completed").await;

    assert_eq!(ack["job_id"], job.id.to_string());
    let done = worker.job(job.id).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result, Some(json!({})));
    assert_eq!(done.attempts, 1);
    let history = worker.history(job.id).await;
    let statuses: Vec<_> = history.iter().map(|e| e.to_status).collect();
    assert_eq!(
        statuses,
        [
            JobStatus::Pending,
            JobStatus::Processing,
            JobStatus::Completed
        ]
    );
    assert_eq!(events(&history), ["submitted", "claimed", "succeeded"]);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_duplicate_delivery_of_a_completed_job_is_acked_and_does_nothing(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 3, 30).await;
    assert_ack(worker.push(&job).await, "completed").await;
    let before = worker.job(job.id).await;

    assert_ack(worker.push(&job).await, "duplicate").await;

    assert_eq!(worker.job(job.id).await, before);
    assert_eq!(worker.history(job.id).await.len(), 3);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_delivery_for_a_job_whose_lease_is_live_is_nacked(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 3, 30).await;
    // Another delivery claims it first and is still running it.
    worker
        .jobs
        .claim(job.id, Duration::from_secs(30))
        .await
        .expect("claim");

    assert_problem(worker.push(&job).await, 409, "job-busy").await;

    let still = worker.job(job.id).await;
    assert_eq!(still.status, JobStatus::Processing);
    assert_eq!(still.attempts, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_sleep_job_exceeding_its_timeout_is_recorded_as_a_retryable_timeout(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    // The sleep outlasts the one-second timeout by far, so the timeout always wins.
    let job = worker
        .insert_job("sleep", json!({"ms": 600_000}), 3, 1)
        .await;

    assert_problem(worker.push(&job).await, 503, "job-retrying").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Pending);
    assert_eq!(after.attempts, 1);
    let error = after.error.expect("an error");
    assert!(error.contains("timed out after 1 s"), "{error}");
    assert_eq!(
        events(&worker.history(job.id).await),
        ["submitted", "claimed", "failed_retryable"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_worker_caps_a_run_at_its_own_maximum_timeout(pool: PgPool) {
    let options = WorkerOptions {
        job_max_timeout: Duration::from_secs(1),
        ..WorkerOptions::default()
    };
    let worker = spawn_worker_with(pool, options).await;
    let job = worker
        .insert_job("sleep", json!({"ms": 600_000}), 1, 600)
        .await;

    // The last attempt timed out, so the job fails and the delivery is acked.
    assert_ack(worker.push(&job).await, "failed").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(after.failure_reason, Some(FailureReason::TimedOut));
    assert!(after.error.expect("an error").contains("timed out"));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_short_sleep_job_completes_with_the_time_slept(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("sleep", json!({"ms": 5}), 3, 30).await;

    assert_ack(worker.push(&job).await, "completed").await;

    assert_eq!(
        worker.job(job.id).await.result,
        Some(json!({"slept_ms": 5}))
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_email_job_goes_through_the_log_only_transport_without_smtp(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let payload = json!({"to": ["jane@example.com"], "subject": "Hi", "body": "Hello"});
    let job = worker.insert_job("email", payload, 3, 30).await;

    assert_ack(worker.push(&job).await, "completed").await;

    assert_eq!(
        worker.job(job.id).await.result,
        Some(json!({"recipients": 1, "transport": "log"}))
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_type_without_a_handler_fails_permanently(pool: PgPool) {
    let options = WorkerOptions {
        registry: Some(Registry::new().register(Sleep).expect("one type")),
        ..WorkerOptions::default()
    };
    let worker = spawn_worker_with(pool, options).await;
    let job = worker.insert_job("noop", json!({}), 5, 30).await;

    assert_ack(worker.push(&job).await, "failed").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(after.attempts, 1);
    assert_eq!(
        after.error.as_deref(),
        Some("no handler is registered for job type `noop`")
    );
    assert_eq!(after.failure_reason, Some(FailureReason::TypeDeleted));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_payload_the_handler_cannot_read_fails_permanently(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    // Stored behind the API's back, as a job from an older schema would be.
    let job = worker
        .insert_job("sleep", json!({"ms": "long"}), 5, 30)
        .await;

    assert_ack(worker.push(&job).await, "failed").await;

    let error = worker.job(job.id).await.error.expect("an error");
    assert!(error.starts_with("invalid payload: ms:"), "{error}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn malformed_envelopes_are_acked(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let not_a_job = STANDARD.encode(json!({"hello": "world"}).to_string());
    let bodies = [
        "this is not json".to_owned(),
        "".to_owned(),
        json!({"subscription": "projects/p/subscriptions/s"}).to_string(),
        envelope_with(json!("%%% not base64 %%%"), json!({}), 1).to_string(),
        envelope_with(json!(not_a_job), json!({}), 1).to_string(),
        envelope_with(json!(null), json!({"type": "noop"}), 1).to_string(),
        envelope_with(json!(null), json!({"job_id": "not-a-uuid"}), 1).to_string(),
    ];
    for body in bodies {
        let response = worker.post("/pubsub/push", body.clone(), None).await;
        assert_ack(response, "malformed").await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_push_for_an_unknown_job_is_acked(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let unknown = JobId::new();
    let body = envelope(unknown, "noop", 1).to_string();

    let ack = assert_ack(worker.post("/pubsub/push", body, None).await, "not_found").await;

    assert_eq!(ack["job_id"], unknown.to_string());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_push_body_over_the_limit_is_refused_with_413(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let huge = "x".repeat(64 * 1024);

    let response = worker.post("/pubsub/push", huge, None).await;

    assert_problem(response, 413, "payload-too-large").await;
}

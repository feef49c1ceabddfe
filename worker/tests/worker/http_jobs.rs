use crate::helpers::{
    Target, WorkerOptions, assert_ack, assert_problem, envelope, events, spawn_worker,
    spawn_worker_with,
};
use jobs_domain::JobStatus;
use serde_json::{Value, json};
use sqlx::PgPool;

fn http_job(url: String) -> Value {
    json!({"url": url, "method": "POST", "headers": {"Authorization": "Bearer s3cret"}, "body": "{}"})
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_200_completes_the_job_with_the_status_and_body_in_its_result(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", http_job(target.url("/status/200")), 3, 30)
        .await;

    assert_ack(worker.push(&job).await, "completed").await;

    let done = worker.job(job.id).await;
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.result,
        Some(json!({"status": 200, "body": "hello from 200"}))
    );
    assert_eq!(target.hits(), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_500_sends_the_job_back_to_pending_and_nacks(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", http_job(target.url("/status/500")), 3, 30)
        .await;

    assert_problem(worker.push(&job).await, 503, "job-retrying").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Pending);
    assert_eq!(after.attempts, 1);
    assert_eq!(
        after.error.as_deref(),
        Some("the server answered 500 Internal Server Error")
    );
    assert_eq!(target.hits(), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_redelivery_after_a_retryable_error_runs_the_job_again(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", http_job(target.url("/status/503")), 2, 30)
        .await;

    assert_problem(worker.push(&job).await, 503, "job-retrying").await;
    // The second attempt is the last, so the same error now fails the job.
    assert_ack(worker.push(&job).await, "failed").await;

    assert_eq!(target.hits(), 2);
    assert_eq!(
        events(&worker.history(job.id).await),
        [
            "submitted",
            "claimed",
            "failed_retryable",
            "claimed",
            "attempts_exhausted"
        ]
    );
    assert_eq!(worker.job(job.id).await.status, JobStatus::Failed);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_404_fails_the_job_after_one_attempt_and_acks(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", http_job(target.url("/status/404")), 5, 30)
        .await;

    assert_ack(worker.push(&job).await, "failed").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(after.attempts, 1);
    assert_eq!(
        events(&worker.history(job.id).await),
        ["submitted", "claimed", "failed_permanent"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_retryable_error_on_the_last_attempt_fails_the_job_and_acks(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", http_job(target.url("/status/429")), 1, 30)
        .await;

    assert_ack(worker.push(&job).await, "failed").await;

    let after = worker.job(job.id).await;
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(
        after.error.as_deref(),
        Some("the server answered 429 Too Many Requests")
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_connection_refused_is_retryable(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    // Port 1 on loopback has no listener.
    let job = worker
        .insert_job("http", json!({"url": "http://127.0.0.1:1/"}), 3, 30)
        .await;

    assert_problem(worker.push(&job).await, 503, "job-retrying").await;

    let error = worker.job(job.id).await.error.expect("an error");
    assert!(error.starts_with("cannot connect"), "{error}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn redirects_are_followed(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", json!({"url": target.url("/redirect")}), 3, 30)
        .await;

    assert_ack(worker.push(&job).await, "completed").await;

    assert_eq!(
        worker.job(job.id).await.result.expect("result")["status"],
        200
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_same_message_delivered_twice_concurrently_runs_the_handler_once(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let target = Target::start().await;
    let job = worker
        .insert_job("http", http_job(target.url("/status/200")), 3, 30)
        .await;

    let (first, second) = tokio::join!(worker.push(&job), worker.push(&job));

    assert_eq!(target.hits(), 1);
    let mut answers = Vec::new();
    for response in [first, second] {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json");
        let label = match status {
            200 => body["outcome"].as_str().unwrap_or_default().to_owned(),
            _ => body["type"].as_str().unwrap_or_default().to_owned(),
        };
        answers.push(label);
    }
    answers.sort();
    // The loser either found the lease live (nack) or the job already done (ack).
    assert!(
        answers == ["completed", "urn:problem:job-busy"] || answers == ["completed", "duplicate"],
        "{answers:?}"
    );
    assert_eq!(worker.job(job.id).await.attempts, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn private_destinations_are_refused_when_not_allowed(pool: PgPool) {
    let options = WorkerOptions {
        allow_private_networks: false,
        ..WorkerOptions::default()
    };
    let worker = spawn_worker_with(pool, options).await;
    let target = Target::start().await;
    let port = target.base.rsplit(':').next().expect("port");
    let by_address = worker
        .insert_job("http", json!({"url": target.url("/status/200")}), 3, 30)
        .await;
    let by_name = worker
        .insert_job(
            "http",
            json!({"url": format!("http://localhost:{port}/status/200")}),
            3,
            30,
        )
        .await;
    let metadata = worker
        .insert_job(
            "http",
            json!({"url": "http://169.254.169.254/computeMetadata/v1/", "headers": {"Metadata-Flavor": "Google"}}),
            3,
            30,
        )
        .await;

    for job in [&by_address, &by_name, &metadata] {
        assert_ack(worker.push(job).await, "failed").await;
        let error = worker.job(job.id).await.error.expect("an error");
        assert!(
            error.contains("http jobs may only reach public hosts"),
            "{error}"
        );
    }
    assert_eq!(target.hits(), 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_message_naming_another_type_runs_the_stored_job(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 3, 30).await;
    let body = envelope(job.id, "http", 1).to_string();

    assert_ack(worker.post("/pubsub/push", body, None).await, "completed").await;

    assert_eq!(worker.job(job.id).await.result, Some(json!({})));
}

use crate::helpers::{assert_ack, envelope, spawn_worker};
use jobs_domain::JobId;
use serde_json::json;
use sqlx::PgPool;

/// The value of the sample named `series` (name and labels), if rendered.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn metrics_count_handler_runs_and_delivery_answers(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let job = worker.insert_job("noop", json!({}), 3, 30).await;
    assert_ack(worker.push(&job).await, "completed").await;
    // A duplicate delivery of the finished job, a body that is no envelope,
    // and a dead-letter for a job that does not exist.
    assert_ack(worker.push(&job).await, "duplicate").await;
    assert_ack(
        worker.post("/pubsub/push", "not an envelope", None).await,
        "malformed",
    )
    .await;
    let unknown = envelope(JobId::new(), "noop", 5).to_string();
    assert_ack(
        worker.post("/pubsub/dead-letter", unknown, None).await,
        "not_found",
    )
    .await;

    let response = worker
        .client
        .get(worker.url("/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    for (series, value) in [
        (
            r#"jobs_handler_runs_total{type="noop",outcome="succeeded"}"#,
            1.0,
        ),
        (
            r#"jobs_handler_run_seconds_count{type="noop",outcome="succeeded"}"#,
            1.0,
        ),
        (
            r#"jobs_deliveries_total{subscription="jobs",answer="completed"}"#,
            1.0,
        ),
        (
            r#"jobs_deliveries_total{subscription="jobs",answer="duplicate"}"#,
            1.0,
        ),
        (
            r#"jobs_deliveries_total{subscription="jobs",answer="malformed"}"#,
            1.0,
        ),
        (
            r#"jobs_deliveries_total{subscription="dead_letter",answer="not_found"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in {text}");
    }
}

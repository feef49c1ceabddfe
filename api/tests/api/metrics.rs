use crate::helpers::{noop, spawn_app};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

/// The value of the sample named `series` (name and labels), if rendered.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn metrics_count_created_and_replayed_submissions_and_need_no_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({"type": "noop", "payload": {}, "idempotency_key": "metrics-1"});
    app.submitted_job(&body).await;
    assert_eq!(app.submit_job(&body).await.status(), 200);
    app.submitted_job(&noop()).await;

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|value| value.starts_with("application/openmetrics-text")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("text");
    assert_eq!(
        sample(
            &text,
            r#"jobs_submitted_total{type="noop",result="created"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"jobs_submitted_total{type="noop",result="replayed"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn metrics_count_publishes_to_pubsub(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.submitted_job(&noop()).await;
    // The publish finishes after the 202; poll until it is counted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        if sample(&text, r#"jobs_pubsub_publishes_total{result="ok"}"#) == Some(1.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publish was never counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

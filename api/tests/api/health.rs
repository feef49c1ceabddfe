use crate::helpers::{assert_problem, pubsub_settings, serve, spawn_app};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn health_and_readiness_answer_204_without_a_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(response.status(), 204, "{path}");
    }
}

#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_never_500() {
    // Nothing listens on port 1, so every connection attempt fails.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let address = serve(pool, &pubsub_settings("127.0.0.1:1")).await;
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .expect("send");
    assert_eq!(ready.headers()["retry-after"], "5");
    assert_problem(ready, 503, "unavailable").await;
    let submit = client
        .post(format!("{address}/v1/jobs"))
        .bearer_auth("jk_some_key")
        .json(&serde_json::json!({"type": "noop", "payload": {}}))
        .send()
        .await
        .expect("send");
    assert_problem(submit, 503, "unavailable").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_openapi_document_lists_every_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let expected = [
        ("/v1/jobs", "post"),
        ("/v1/jobs", "get"),
        ("/v1/jobs/{id}", "get"),
        ("/v1/jobs/{id}/cancel", "post"),
        ("/v1/jobs/{id}/retry", "post"),
        ("/v1/jobs/{id}/events", "get"),
        ("/v1/jobs/batch", "post"),
        ("/v1/jobs/retry", "post"),
        ("/v1/callback-secret", "post"),
        ("/v1/job-types", "get"),
        ("/v1/job-types/{name}", "get"),
        ("/v1/job-types/{name}", "put"),
        ("/v1/job-types/{name}", "delete"),
        ("/v1/job-types/{name}/rotate-secret", "post"),
        ("/v1/schedules", "get"),
        ("/v1/schedules/{name}", "get"),
        ("/v1/schedules/{name}", "put"),
        ("/v1/schedules/{name}", "delete"),
        ("/v1/schedules/{name}/pause", "post"),
        ("/v1/schedules/{name}/resume", "post"),
        ("/v1/stats", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|ops| ops.as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(documented, expected.len());
    assert!(doc["components"]["schemas"]["Job"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

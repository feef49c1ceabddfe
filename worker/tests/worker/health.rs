use crate::helpers::{WorkerOptions, assert_problem, serve, spawn_worker};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn health_and_readiness_answer_204(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    for path in ["/healthz", "/readyz"] {
        let response = worker
            .client
            .get(worker.url(path))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 204, "{path}");
    }
}

#[tokio::test]
async fn readiness_is_503_while_the_database_is_down() {
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .expect("lazy pool");
    let address = serve(pool, WorkerOptions::default()).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), 204);
    let ready = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .expect("send");
    assert_problem(ready, 503, "unavailable").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn unknown_routes_and_methods_are_problems(pool: PgPool) {
    let worker = spawn_worker(pool).await;
    let missing = worker
        .client
        .get(worker.url("/nope"))
        .send()
        .await
        .expect("send");
    assert_problem(missing, 404, "not-found").await;
    let wrong_method = worker
        .client
        .get(worker.url("/pubsub/push"))
        .send()
        .await
        .expect("send");
    assert_problem(wrong_method, 405, "method-not-allowed").await;
}

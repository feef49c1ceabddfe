use crate::helpers::{assert_problem, noop, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn stats_count_only_the_callers_tenants_jobs(pool: PgPool) {
    let app = spawn_app(pool).await;
    let first = app.submitted_job(&noop()).await;
    app.submitted_job(&json!({"type": "sleep", "payload": {"ms": 1}}))
        .await;
    let globex = app.other_tenant_key().await;
    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&globex)
        .json(&noop())
        .send()
        .await
        .expect("submit");
    assert_eq!(response.status(), 202);

    let response = app.get("/v1/stats").await;
    assert_eq!(response.status(), 200);
    let stats: Value = response.json().await.expect("json");
    assert_eq!(
        stats["by_status"],
        json!({"pending": 2, "processing": 0, "completed": 0, "failed": 0, "cancelled": 0})
    );
    let types: Vec<&str> = stats["by_type"]
        .as_array()
        .expect("by_type")
        .iter()
        .filter_map(|counts| counts["type"].as_str())
        .collect();
    assert_eq!(types, ["noop", "sleep"]);
    assert_eq!(stats["by_type"][0]["counts"]["pending"], 1);
    let minutes = stats["per_minute"].as_array().expect("per_minute");
    assert_eq!(minutes.len(), 60);
    assert!(
        minutes
            .iter()
            .all(|m| m["completed"] == 0 && m["failed"] == 0)
    );
    assert_eq!(stats["oldest_pending"]["id"], first["id"]);
    assert!(stats["oldest_pending"]["age_seconds"].as_i64().is_some());
    assert!(stats["as_of"].as_str().is_some());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn stats_need_a_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .get(app.url("/v1/stats"))
        .send()
        .await
        .expect("send");
    assert_problem(response, 401, "unauthorized").await;
}

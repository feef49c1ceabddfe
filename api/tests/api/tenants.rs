use crate::helpers::{assert_problem, noop, spawn_app, spawn_app_with};
use serde_json::Value;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn another_tenants_job_is_invisible_and_untouchable(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.submitted_job(&noop()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let other = app.other_tenant_key().await;
    for (method, path) in [
        ("GET", format!("/v1/jobs/{id}")),
        ("GET", format!("/v1/jobs/{id}/events")),
        ("POST", format!("/v1/jobs/{id}/cancel")),
        ("POST", format!("/v1/jobs/{id}/retry")),
    ] {
        let request = match method {
            "GET" => app.client.get(app.url(&path)),
            _ => app.client.post(app.url(&path)),
        };
        let response = request.bearer_auth(&other).send().await.expect("send");
        assert_problem(response, 404, "not-found").await;
    }
    let list: Value = app
        .client
        .get(app.url("/v1/jobs"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(list["jobs"].as_array().expect("jobs").len(), 0);
    // The owner still sees it, uncancelled.
    let mine: Value = app
        .get(&format!("/v1/jobs/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine["status"], "pending");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn tenants_may_use_the_same_idempotency_key_independently(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = serde_json::json!({"type": "noop", "payload": {}, "idempotency_key": "shared"});
    let mine = app.submitted_job(&body).await;
    let other = app.other_tenant_key().await;
    let theirs = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&other)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(theirs.status(), 202);
    let theirs: Value = theirs.json().await.expect("json");
    assert_ne!(theirs["id"], mine["id"]);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_tenant_over_its_rate_gets_429_with_retry_after_and_others_are_served(pool: PgPool) {
    // Two requests an hour: the third is refused however slow the machine is.
    let two_an_hour = ["--tenant-rate-limit=2", "--tenant-rate-period=3600"];
    let app = spawn_app_with(pool, &two_an_hour).await;
    app.submitted_job(&noop()).await;
    assert_eq!(app.get("/v1/jobs").await.status(), 200);

    let limited = app.submit_job(&noop()).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=1800).contains(&retry_after), "{retry_after}");
    assert_problem(limited, 429, "rate-limited").await;
    let stored: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 1, "a refused submit stores nothing");

    let other = app.other_tenant_key().await;
    let served = app
        .client
        .get(app.url("/v1/jobs"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("send");
    assert_eq!(served.status(), 200);
}

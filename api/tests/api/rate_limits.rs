//! Job types' per-key rate limits over HTTP: exact across API instances and
//! under concurrency, per key and per tenant, with replays counted once.

use crate::helpers::{TestApp, assert_problem, pubsub_settings, serve, spawn_app};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use reqwest::Response;
use serde_json::{Value, json};
use sqlx::PgPool;

/// A noop type whose payloads need `user_id`, limited to `limit` per user per hour.
fn limited(limit: u32, when_exceeded: &str) -> Value {
    json!({
        "handler": {"builtin": "noop"},
        "payload_schema": {"type": "object", "required": ["user_id"]},
        "rate_limit": {"key": "/user_id", "limit": limit, "period_seconds": 3600,
                       "when_exceeded": when_exceeded}
    })
}

fn signin(user: &str) -> Value {
    json!({"type": "signin", "payload": {"user_id": user}})
}

async fn submit_to(app: &TestApp, base: &str, key: &str, body: Value) -> Response {
    app.client
        .post(format!("{base}/v1/jobs"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("submit")
}

async fn stored(pool: &PgPool, job_type: &str) -> i64 {
    sqlx::query_scalar("select count(*) from jobs where type = $1")
        .bind(job_type)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn two_hundred_concurrent_submits_for_one_key_on_two_api_instances_store_exactly_the_limit(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    let second = serve(pool.clone(), &pubsub_settings(&app.emulator.host())).await;
    assert_eq!(
        app.put_type("signin", &limited(10, "reject"))
            .await
            .status(),
        201
    );

    let submits = (0..200).map(|i| {
        let base = if i % 2 == 0 { &app.address } else { &second };
        submit_to(&app, base, &app.api_key, signin("u1"))
    });
    let mut accepted = 0;
    for response in join_all(submits).await {
        if response.status() == 202 {
            accepted += 1;
            continue;
        }
        let retry_after: u64 = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .expect("a 429 says when to retry");
        assert!((3500..=3600).contains(&retry_after), "{retry_after}");
        assert_problem(response, 429, "job-rate-limited").await;
    }
    assert_eq!(accepted, 10);
    assert_eq!(stored(&pool, "signin").await, 10);

    // Another user of the same tenant, and the same user in another tenant, are unaffected.
    assert_eq!(app.submit_job(&signin("u2")).await.status(), 202);
    let other = app.other_tenant_key().await;
    let defined = app
        .client
        .put(app.url("/v1/job-types/signin"))
        .bearer_auth(&other)
        .json(&limited(10, "reject"))
        .send()
        .await
        .expect("put");
    assert_eq!(defined.status(), 201);
    assert_eq!(
        submit_to(&app, &second, &other, signin("u1"))
            .await
            .status(),
        202
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_replayed_submit_takes_no_second_slot_and_is_answered_even_over_the_limit(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    assert_eq!(
        app.put_type("signin", &limited(2, "reject")).await.status(),
        201
    );
    let shown: Value = app
        .get("/v1/job-types/signin")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        shown["rate_limit"],
        json!({"key": "/user_id", "limit": 2, "period_seconds": 3600, "when_exceeded": "reject"}),
        "a type shows its rate limit"
    );
    let mut keyed = signin("u1");
    keyed["idempotency_key"] = json!("signin-1");
    assert_eq!(app.submit_job(&keyed).await.status(), 202);
    assert_eq!(app.submit_job(&keyed).await.status(), 200);
    assert_eq!(app.submit_job(&signin("u1")).await.status(), 202);
    assert_problem(app.submit_job(&signin("u1")).await, 429, "job-rate-limited").await;
    // The limit is reached, and the replay still gets its original job.
    assert_eq!(app.submit_job(&keyed).await.status(), 200);
    let mut conflicting = keyed.clone();
    conflicting["payload"]["user_id"] = json!("u2");
    assert_problem(app.submit_job(&conflicting).await, 409, "conflict").await;
    assert_eq!(stored(&pool, "signin").await, 2);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn with_delay_a_job_over_the_limit_is_accepted_to_run_when_the_window_has_room(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    assert_eq!(
        app.put_type("signin", &limited(2, "delay")).await.status(),
        201
    );
    let mut jobs = Vec::new();
    for _ in 0..3 {
        jobs.push(app.submitted_job(&signin("u1")).await);
    }
    let run_at = |job: &Value| -> DateTime<Utc> {
        job["run_at"]
            .as_str()
            .expect("run_at")
            .parse()
            .expect("a time")
    };
    let created = |job: &Value| -> DateTime<Utc> {
        job["created_at"]
            .as_str()
            .expect("created_at")
            .parse()
            .expect("a time")
    };
    assert_eq!(run_at(&jobs[0]), created(&jobs[0]));
    assert_eq!(run_at(&jobs[1]), created(&jobs[1]));
    // The third waits for the first one's slot to leave the window.
    assert_eq!(
        run_at(&jobs[2]),
        run_at(&jobs[0]) + chrono::Duration::hours(1)
    );
    assert_eq!(jobs[2]["status"], "pending");
    // Another user is not delayed.
    let other = app.submitted_job(&signin("u2")).await;
    assert_eq!(run_at(&other), created(&other));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_payload_without_the_limits_key_is_refused_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let definition = json!({
        "handler": {"builtin": "noop"},
        "rate_limit": {"key": "/user/id", "limit": 1, "period_seconds": 60}
    });
    assert_eq!(app.put_type("signin", &definition).await.status(), 201);
    for payload in [
        json!({}),
        json!({"user": {"id": null}}),
        json!({"user": {"id": [1]}}),
    ] {
        let body = app
            .submit_job(&json!({"type": "signin", "payload": payload}))
            .await;
        let problem = assert_problem(body, 422, "invalid-fields").await;
        assert_eq!(
            problem["errors"][0]["field"], "payload.user.id",
            "{problem}"
        );
    }
    assert_eq!(stored(&pool, "signin").await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_rate_limit_out_of_range_or_with_a_bad_pointer_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cases = [
        (
            json!({"limit": 0, "period_seconds": 60}),
            "rate_limit.limit",
        ),
        (
            json!({"limit": 1, "period_seconds": 0}),
            "rate_limit.period_seconds",
        ),
        (
            json!({"key": "user_id", "limit": 1, "period_seconds": 60}),
            "rate_limit.key",
        ),
        (
            json!({"limit": 1, "period_seconds": 60, "when_exceeded": "drop"}),
            "rate_limit.when_exceeded",
        ),
    ];
    for (rate_limit, field) in cases {
        let definition = json!({"handler": {"builtin": "noop"}, "rate_limit": rate_limit});
        let problem = assert_problem(
            app.put_type("signin", &definition).await,
            422,
            "invalid-fields",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}

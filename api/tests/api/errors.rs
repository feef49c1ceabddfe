use crate::helpers::{MAX_BODY_BYTES, assert_problem, noop, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn count_jobs(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn malformed_json_is_400(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body("{\"type\": \"noop\", ")
        .send()
        .await
        .expect("send");
    assert_problem(response, 400, "malformed-request").await;
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_body_that_is_not_json_by_content_type_is_415(pool: PgPool) {
    let app = spawn_app(pool).await;
    for content_type in [Some("text/plain"), None] {
        let mut request = app
            .client
            .post(app.url("/v1/jobs"))
            .bearer_auth(&app.api_key)
            .body(noop().to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("send");
        assert_problem(response, 415, "unsupported-media-type").await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_body_over_the_limit_is_413(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let big = "x".repeat(MAX_BODY_BYTES as usize + 1);
    let response = app
        .submit_job(&json!({"type": "noop", "payload": {"big": big}}))
        .await;
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn missing_and_mistyped_fields_are_422_naming_the_field(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let cases = [
        (json!({"payload": {}}), "type"),
        (json!({"type": "noop"}), "payload"),
        (
            json!({"type": "noop", "payload": {}, "max_attempts": "many"}),
            "max_attempts",
        ),
        (
            json!({"type": "noop", "payload": {}, "colour": "red"}),
            "colour",
        ),
        (
            json!({"type": "noop", "payload": {}, "max_attempts": 0}),
            "max_attempts",
        ),
        (
            json!({"type": "noop", "payload": {}, "timeout_seconds": 100000}),
            "timeout_seconds",
        ),
        (
            json!({"type": "noop", "payload": {}, "delay_seconds": -1}),
            "delay_seconds",
        ),
        (
            json!({"type": "noop", "payload": {}, "run_at": "tomorrow"}),
            "run_at",
        ),
        (
            json!({"type": "sleep", "payload": {"ms": "long"}}),
            "payload",
        ),
        (
            json!({"type": "http", "payload": {"url": "ftp://x"}}),
            "payload",
        ),
        (
            json!({"type": "noop", "payload": {"text": "nul\0byte"}}),
            "payload",
        ),
        (json!("noop"), ""),
    ];
    for (body, field) in cases {
        let response = app.submit_job(&body).await;
        let problem = assert_problem(response, 422, "invalid-fields").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
        assert!(problem["errors"][0]["message"].is_string());
    }
    assert_eq!(count_jobs(&pool).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_unknown_job_type_is_422_listing_the_known_ones(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.submit_job(&json!({"type": "fax", "payload": {}})).await;
    let problem = assert_problem(response, 422, "invalid-fields").await;
    assert_eq!(problem["errors"][0]["field"], "type");
    let message = problem["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("fax") && message.contains("http"));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn missing_wrong_and_malformed_api_keys_are_401(pool: PgPool) {
    let app = spawn_app(pool).await;
    let no_key = app
        .client
        .get(app.url("/v1/jobs"))
        .send()
        .await
        .expect("send");
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    assert_problem(no_key, 401, "unauthorized").await;
    for header in ["Bearer jk_wrong", "Basic abc", "Bearer ", "jk_no_scheme"] {
        let response = app
            .client
            .post(app.url("/v1/jobs"))
            .header("authorization", header)
            .json(&noop())
            .send()
            .await
            .expect("send");
        assert_problem(response, 401, "unauthorized").await;
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn unknown_routes_and_methods_answer_problem_json(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_problem(app.get("/v2/nothing").await, 404, "not-found").await;
    let delete = app
        .client
        .delete(app.url("/v1/jobs"))
        .send()
        .await
        .expect("send");
    assert_problem(delete, 405, "method-not-allowed").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn garbage_bodies_never_cause_a_500(pool: PgPool) {
    let app = spawn_app(pool).await;
    let bodies: [&[u8]; 6] = [
        b"",
        b"null",
        b"\xff\xfe",
        b"{\"type\":1}",
        b"[[[[[[[[[[",
        b"\"noop\"",
    ];
    for body in bodies {
        let response = app
            .client
            .post(app.url("/v1/jobs"))
            .bearer_auth(&app.api_key)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("send");
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{status} for {body:?}");
        let problem: Value = response.json().await.expect("problem");
        assert!(problem["type"].is_string());
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn control_characters_in_list_filters_are_422_not_a_database_error(pool: PgPool) {
    let app = spawn_app(pool).await;
    for query in ["type=%00", "type=", "status=%00"] {
        let response = app.get(&format!("/v1/jobs?{query}")).await;
        assert_problem(response, 422, "invalid-fields").await;
    }
}

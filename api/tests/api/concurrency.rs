//! Submits of a type with a concurrency limit: the job is stored with the key
//! value it counts against, which the worker's claim counts by.

use crate::helpers::{TestApp, assert_problem, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

impl TestApp {
    async fn define(&self, name: &str, definition: &Value) {
        let response = self
            .client
            .put(self.url(&format!("/v1/job-types/{name}")))
            .bearer_auth(&self.api_key)
            .json(definition)
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 201, "{name} is defined");
    }

    /// The stored `concurrency_key` of the job a submit of `body` creates.
    async fn stored_key(&self, body: &Value) -> Option<String> {
        let job = self.submitted_job(body).await;
        self.key_of(&job).await
    }

    /// The stored `concurrency_key` of `job` (as the API shows it).
    async fn key_of(&self, job: &Value) -> Option<String> {
        let id = uuid::Uuid::parse_str(job["id"].as_str().expect("id")).expect("uuid");
        sqlx::query_scalar("select concurrency_key from jobs where id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("job row")
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_submit_stores_the_key_value_its_type_limits_concurrency_by(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.define(
        "sync",
        &json!({"handler": {"builtin": "noop"},
                "concurrency": {"key": "/account/id", "limit": 1}}),
    )
    .await;
    app.define(
        "rebuild",
        &json!({"handler": {"builtin": "noop"}, "concurrency": {"limit": 2}}),
    )
    .await;
    app.define("plain", &json!({"handler": {"builtin": "noop"}}))
        .await;

    let sync = |id: Value| json!({"type": "sync", "payload": {"account": {"id": id}}});
    assert_eq!(
        app.stored_key(&sync(json!("a-1"))).await.as_deref(),
        Some("a-1")
    );
    assert_eq!(
        app.stored_key(&sync(json!(42))).await.as_deref(),
        Some("42")
    );
    let whole_type = json!({"type": "rebuild", "payload": {}});
    assert_eq!(
        app.stored_key(&whole_type).await.as_deref(),
        Some(""),
        "a limit without a key: one key for the whole type"
    );
    let plain = json!({"type": "plain", "payload": {"account": {"id": "a-1"}}});
    assert_eq!(app.stored_key(&plain).await, None);
    let builtin = json!({"type": "noop", "payload": {}});
    assert_eq!(app.stored_key(&builtin).await, None);

    // A batch, and a type that is rate-limited too, store it the same way.
    let batch = app
        .post_json(
            "/v1/jobs/batch",
            &json!({"jobs": [sync(json!("a-2")), sync(json!("a-3")), builtin]}),
        )
        .await;
    assert_eq!(batch.status(), 202);
    let batch: Value = batch.json().await.expect("json");
    let mut keys = Vec::new();
    for job in batch["jobs"].as_array().expect("jobs") {
        keys.push(app.key_of(job).await);
    }
    assert_eq!(keys, [Some("a-2".to_owned()), Some("a-3".to_owned()), None]);
    app.define(
        "sync.limited",
        &json!({"handler": {"builtin": "noop"},
                "rate_limit": {"key": "/account/id", "limit": 10, "period_seconds": 60},
                "concurrency": {"key": "/account/id", "limit": 1}}),
    )
    .await;
    let both = json!({"type": "sync.limited", "payload": {"account": {"id": "a-4"}}});
    assert_eq!(app.stored_key(&both).await.as_deref(), Some("a-4"));

    let missing = app
        .submit_job(&json!({"type": "sync", "payload": {"account": {}}}))
        .await;
    let problem = assert_problem(missing, 422, "invalid-fields").await;
    assert_eq!(
        problem["errors"][0]["field"], "payload.account.id",
        "{problem}"
    );
}

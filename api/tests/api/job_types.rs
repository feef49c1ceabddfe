//! `/v1/job-types` over HTTP: a tenant's own types, their errors, and submits of them.

use crate::helpers::{TestApp, assert_problem, pubsub_settings, serve_with, spawn_app};
use reqwest::Response;
use serde_json::{Value, json};
use sqlx::PgPool;

/// 32 zero bytes: a sealing key for tests only.
const SECRETS_KEY: &str = "--job-type-secrets-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

impl TestApp {
    pub(crate) async fn put_type(&self, name: &str, body: &Value) -> Response {
        self.client
            .put(self.url(&format!("/v1/job-types/{name}")))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("put")
    }

    async fn delete_type(&self, name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/v1/job-types/{name}")))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("delete")
    }
}

fn welcome() -> Value {
    json!({
        "handler": {"builtin": "noop"},
        "payload_schema": {"type": "object", "required": ["user_id", "email"],
                           "properties": {"user_id": {"type": "string"}}},
        "max_attempts": 3,
        "timeout_seconds": 20,
        "retry": {"strategy": "exponential", "initial_delay_seconds": 2, "max_delay_seconds": 16}
    })
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_type_is_created_replaced_read_listed_and_deleted(pool: PgPool) {
    let app = spawn_app(pool).await;
    let created = app.put_type("welcome", &welcome()).await;
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.expect("json");
    assert_eq!(
        (body["name"].clone(), body["builtin"].clone()),
        (json!("welcome"), json!(false))
    );
    assert_eq!(body["retry"]["strategy"], "exponential");
    assert!(body.get("secret").is_none(), "no secret without hmac");

    let mut replacement = welcome();
    replacement["max_attempts"] = json!(4);
    assert_eq!(app.put_type("welcome", &replacement).await.status(), 200);
    let read: Value = app
        .get("/v1/job-types/welcome")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["max_attempts"], 4);

    let list: Value = app.get("/v1/job-types").await.json().await.expect("json");
    let names: Vec<(String, bool)> = list["job_types"]
        .as_array()
        .expect("array")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or("").to_owned(),
                t["builtin"] == true,
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("http".to_owned(), true),
            ("email".to_owned(), true),
            ("noop".to_owned(), true),
            ("sleep".to_owned(), true),
            ("welcome".to_owned(), false)
        ]
    );

    assert_eq!(app.delete_type("welcome").await.status(), 204);
    assert_problem(app.get("/v1/job-types/welcome").await, 404, "not-found").await;
    assert_problem(app.delete_type("welcome").await, 404, "not-found").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn bad_definitions_are_refused_with_the_status_and_field_they_deserve(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_problem(app.put_type("http", &welcome()).await, 409, "conflict").await;
    assert_problem(app.delete_type("email").await, 409, "conflict").await;
    let bad_name = assert_problem(
        app.put_type("Welcome!", &welcome()).await,
        422,
        "invalid-fields",
    )
    .await;
    assert_eq!(bad_name["errors"][0]["field"], "name");

    let cases = [
        (
            json!({"handler": {"builtin": "noop"}, "payload_schema": {"type": 12}}),
            "payload_schema",
        ),
        (json!({"handler": {"builtin": "fax"}}), "handler.builtin"),
        (
            json!({"handler": {"target": {"url": "ftp://example.com/x"}}}),
            "handler.target.url",
        ),
        (
            json!({"handler": {"target": {"url": "https://example.com/x", "auth": {"kind": "hmac"}}}}),
            "handler.target.auth",
        ),
        (
            json!({"handler": {"builtin": "noop"}, "max_attempts": 0}),
            "max_attempts",
        ),
        (
            json!({"handler": {"builtin": "noop"}, "retry": {"strategy": "fixed", "delay_seconds": 999999}}),
            "retry.delay_seconds",
        ),
    ];
    for (body, field) in cases {
        let problem =
            assert_problem(app.put_type("welcome", &body).await, 422, "invalid-fields").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body}: {problem}");
    }
    assert_problem(app.get("/v1/job-types/welcome").await, 404, "not-found").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_payload_breaking_the_types_schema_is_422_naming_the_field_and_stores_nothing(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    assert_eq!(app.put_type("welcome", &welcome()).await.status(), 201);

    let refused = app
        .submit_job(&json!({"type": "welcome", "payload": {"email": "a@b.c", "user_id": 7}}))
        .await;
    let problem = assert_problem(refused, 422, "invalid-fields").await;
    assert_eq!(
        problem["errors"][0]["field"], "payload.user_id",
        "{problem}"
    );
    let missing = app
        .submit_job(&json!({"type": "welcome", "payload": {"email": "a@b.c"}}))
        .await;
    let problem = assert_problem(missing, 422, "invalid-fields").await;
    assert_eq!(
        problem["errors"][0]["field"], "payload.user_id",
        "{problem}"
    );
    let listed: Value = app.get("/v1/jobs").await.json().await.expect("json");
    assert_eq!(listed["jobs"], json!([]));

    let job = app
        .submitted_job(&json!({"type": "welcome", "payload": {"email": "a@b.c", "user_id": "u1"}}))
        .await;
    assert_eq!(
        (job["max_attempts"].clone(), job["timeout_seconds"].clone()),
        (json!(3), json!(20))
    );
    let lower = app
        .submitted_job(&json!({"type": "welcome", "payload": {"email": "a@b.c", "user_id": "u1"}, "max_attempts": 2}))
        .await;
    assert_eq!(lower["max_attempts"], 2);
    let higher = app
        .submit_job(&json!({"type": "welcome", "payload": {"email": "a@b.c", "user_id": "u1"}, "max_attempts": 4}))
        .await;
    assert_problem(higher, 422, "invalid-fields").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn another_tenants_type_is_invisible_and_cannot_be_submitted(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_eq!(app.put_type("welcome", &welcome()).await.status(), 201);
    let other = app.other_tenant_key().await;
    let read = app
        .client
        .get(app.url("/v1/job-types/welcome"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("get");
    assert_problem(read, 404, "not-found").await;
    let submit = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(&other)
        .json(&json!({"type": "welcome", "payload": {"email": "a@b.c", "user_id": "u1"}}))
        .send()
        .await
        .expect("submit");
    let problem = assert_problem(submit, 422, "invalid-fields").await;
    assert_eq!(problem["errors"][0]["field"], "type");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_hmac_type_shows_its_secret_once_and_a_rotation_gives_a_new_one(pool: PgPool) {
    let address = serve_with(
        pool.clone(),
        &pubsub_settings("127.0.0.1:1"),
        &[SECRETS_KEY],
    )
    .await;
    let key = jobs_domain::api_keys::create_key(&pool, "acme")
        .await
        .expect("key")
        .key;
    let client = reqwest::Client::new();
    let hook = json!({"handler": {"target": {"url": "https://hooks.example.com/welcome", "auth": {"kind": "hmac"}}}});
    let put = || {
        client
            .put(format!("{address}/v1/job-types/welcome"))
            .bearer_auth(&key)
            .json(&hook)
            .send()
    };
    let created = put().await.expect("put");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let first = created["secret"].as_str().expect("a secret").to_owned();
    assert!(first.starts_with("whsec_"), "{first}");

    let replaced: Value = put().await.expect("put").json().await.expect("json");
    assert!(replaced.get("secret").is_none(), "shown once: {replaced}");
    let read: Value = client
        .get(format!("{address}/v1/job-types/welcome"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(!read.to_string().contains(&first), "never returned again");

    let rotated: Value = client
        .post(format!("{address}/v1/job-types/welcome/rotate-secret"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("json");
    let second = rotated["secret"].as_str().expect("a new secret");
    assert_ne!(second, first);
    let sealed: Vec<u8> =
        sqlx::query_scalar("select sealed_secret from job_types where name = 'welcome'")
            .fetch_one(&pool)
            .await
            .expect("sealed");
    assert!(
        !String::from_utf8_lossy(&sealed).contains(second),
        "stored sealed"
    );
}

//! Completion callbacks over HTTP, the API's side: the tenant's signing
//! secret, and jobs that name a callback URL.

use crate::helpers::{assert_problem, pubsub_settings, serve_with, spawn_app_with};
use serde_json::{Value, json};
use sqlx::PgPool;

/// 32 zero bytes: a sealing key for tests only.
const SECRETS_KEY: &str = "--job-type-secrets-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_callback_secret_is_shown_once_when_created_and_again_only_when_rotated(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), &[SECRETS_KEY]).await;
    let created = app.post("/v1/callback-secret").await;
    assert_eq!(created.status(), 201);
    let first: Value = created.json().await.expect("json");
    let first = first["secret"].as_str().expect("secret").to_owned();
    assert!(first.starts_with("whsec_"));
    let rotated = app.post("/v1/callback-secret").await;
    assert_eq!(rotated.status(), 200);
    let second: Value = rotated.json().await.expect("json");
    assert_ne!(second["secret"].as_str(), Some(first.as_str()));
    let sealed: Vec<u8> = sqlx::query_scalar("select sealed_secret from callback_secrets")
        .fetch_one(&pool)
        .await
        .expect("stored");
    assert!(
        !String::from_utf8_lossy(&sealed).contains("whsec_"),
        "kept sealed"
    );

    // Without a sealing key there is nothing to sign with.
    let keyless = serve_with(pool, &pubsub_settings(&app.emulator.host()), &[]).await;
    let refused = app
        .client
        .post(format!("{keyless}/v1/callback-secret"))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("post");
    assert_problem(refused, 409, "conflict").await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_callback_url_needs_a_callback_secret_and_an_http_url(pool: PgPool) {
    let app = spawn_app_with(pool, &[SECRETS_KEY]).await;
    let with_callback = |url: &str| json!({"type": "noop", "payload": {}, "callback_url": url});
    let problem = assert_problem(
        app.submit_job(&with_callback("https://hooks.example.com/done"))
            .await,
        422,
        "invalid-fields",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "callback_url");
    assert_eq!(app.post("/v1/callback-secret").await.status(), 201);
    for bad in ["ftp://example.com/x", "/relative", "https://exa mple.com"] {
        let problem = assert_problem(
            app.submit_job(&with_callback(bad)).await,
            422,
            "invalid-fields",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "callback_url", "{bad}");
    }
    let job = app
        .submitted_job(&with_callback("https://hooks.example.com/done"))
        .await;
    assert_eq!(job["callback_url"], "https://hooks.example.com/done");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_type_s_callback_url_is_its_jobs_default(pool: PgPool) {
    let app = spawn_app_with(pool, &[SECRETS_KEY]).await;
    assert_eq!(app.post("/v1/callback-secret").await.status(), 201);
    let definition = json!({"handler": {"builtin": "noop"},
                            "callback_url": "https://hooks.example.com/signups"});
    assert_eq!(app.put_type("signup", &definition).await.status(), 201);
    let shown: Value = app
        .get("/v1/job-types/signup")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown["callback_url"], "https://hooks.example.com/signups");
    let defaulted = app
        .submitted_job(&json!({"type": "signup", "payload": {}}))
        .await;
    assert_eq!(
        defaulted["callback_url"],
        "https://hooks.example.com/signups"
    );
    let own = app
        .submitted_job(&json!({"type": "signup", "payload": {},
                               "callback_url": "https://hooks.example.com/mine"}))
        .await;
    assert_eq!(own["callback_url"], "https://hooks.example.com/mine");
    // `callback` is the service's own type: no tenant may define or submit it.
    let taken = app
        .put_type("callback", &json!({"handler": {"builtin": "noop"}}))
        .await;
    assert_problem(taken, 409, "conflict").await;
    let submitted = app
        .submit_job(&json!({"type": "callback", "payload": {}}))
        .await;
    assert_problem(submitted, 422, "invalid-fields").await;
}

//! Completion callbacks through the real processes: the finished job is
//! POSTed to its callback URL, signed with the tenant's callback secret, as
//! a job of its own that is retried when the receiver fails.

use crate::harness::{GUARD, Stack};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver that answers 500 to the first callback and 200 to the rest.
async fn flaky_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/done",
            post(
                |State(received): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let mut received = received.lock().expect("received");
                    received.push((headers, body));
                    if received.len() == 1 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/done", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_callback_arrives_signed_once_it_succeeds_and_is_retried_after_a_500(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let (url, received) = flaky_receiver().await;
    let created = stack
        .client
        .post(format!("{}/v1/callback-secret", stack.api))
        .bearer_auth(&stack.api_key)
        .send()
        .await
        .expect("post");
    assert_eq!(created.status(), 201);
    let secret: Value = created.json().await.expect("json");
    let secret = secret["secret"].as_str().expect("secret").to_owned();

    let id = stack
        .submit(&json!({"type": "noop", "payload": {"order": 42}, "callback_url": url}))
        .await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed");

    let callbacks = tokio::time::timeout(GUARD, async {
        loop {
            let page = stack.get("/v1/jobs?type=callback").await;
            let jobs = page["jobs"].as_array().cloned().unwrap_or_default();
            if jobs.iter().any(|job| job["status"] == "completed") {
                return jobs;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the callback job completes");
    assert_eq!(callbacks.len(), 1, "one callback for one ending");
    assert_eq!(callbacks[0]["attempts"], 2, "retried after the 500");

    let received = received.lock().expect("received").clone();
    assert_eq!(received.len(), 2, "a 500, then the one that arrived");
    let (headers, body) = &received[1];
    let sent: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(sent["job"]["id"], id.as_str());
    assert_eq!(sent["job"]["status"], "completed");
    assert_eq!(sent["job"]["payload"], json!({"order": 42}));
    let signature = headers
        .get("jobs-signature")
        .and_then(|value| value.to_str().ok())
        .expect("signed");
    let now = Utc::now().timestamp();
    let tolerance = Duration::from_secs(300);
    jobs_job_types::signature::verify(&secret, signature, body, now, tolerance)
        .expect("the signature verifies with the tenant's callback secret");
    assert!(
        jobs_job_types::signature::verify("whsec_another", signature, body, now, tolerance)
            .is_err()
    );
}

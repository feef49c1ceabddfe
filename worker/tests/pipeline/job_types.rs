//! Tenants' own job types through the real processes: a built-in handler on
//! the type's own retry schedule, an HTTP target signing with HMAC, and a
//! built-in `email` type delivered to a local SMTP sink.

use crate::harness::{GUARD, Stack};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Defines `name` for the stack's tenant and returns the answer's body.
pub(crate) async fn define(stack: &Stack, name: &str, definition: &Value) -> Value {
    let response = stack
        .client
        .put(format!("{}/v1/job-types/{name}", stack.api))
        .bearer_auth(&stack.api_key)
        .json(definition)
        .send()
        .await
        .expect("put job type");
    assert_eq!(response.status(), 201, "the type is defined");
    response.json().await.expect("job type json")
}

/// When each event of a job happened, by event name, in order.
async fn event_times(pool: &PgPool, id: &str) -> Vec<(String, DateTime<Utc>)> {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    sqlx::query_as("select event, created_at from job_events where job_id = $1 order by id")
        .bind(id)
        .fetch_all(pool)
        .await
        .expect("events")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_type_on_the_seed_schedule_is_retried_at_2_4_8_and_16_seconds(pool: PgPool) {
    let stack = Stack::start(pool.clone()).await;
    define(
        &stack,
        "webhook",
        &json!({
            "handler": {"builtin": "http"},
            "max_attempts": 5,
            "retry": {"strategy": "exponential", "initial_delay_seconds": 2,
                      "max_delay_seconds": 16, "jitter": false}
        }),
    )
    .await;
    let url = format!("{}/flaky/4/seed", stack.target.url);
    let id = stack
        .submit(&json!({"type": "webhook", "payload": {"url": url, "method": "POST"}}))
        .await;

    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempts"], 5);
    assert_eq!(job["max_attempts"], 5, "the type's default");
    assert_eq!(stack.target.hits("/flaky/4/seed"), 5);

    // From each failure to the next claim: the schedule, within the
    // reconciler's interval and a second's slack.
    let events = event_times(&pool, &id).await;
    let failures: Vec<DateTime<Utc>> = events
        .iter()
        .filter(|(event, _)| event == "failed_retryable")
        .map(|(_, at)| *at)
        .collect();
    let claims: Vec<DateTime<Utc>> = events
        .iter()
        .filter(|(event, _)| event == "claimed")
        .map(|(_, at)| *at)
        .skip(1)
        .collect();
    assert_eq!((failures.len(), claims.len()), (4, 4), "{events:?}");
    for ((failed, claimed), expected) in failures.iter().zip(&claims).zip([2.0, 4.0, 8.0, 16.0]) {
        let waited = (*claimed - *failed).num_milliseconds() as f64 / 1000.0;
        assert!(
            (waited - expected).abs() <= 1.0,
            "waited {waited} s where the schedule says {expected} s: {events:?}"
        );
    }
}

/// What a target saw: each request's headers and body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn recording_target() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().expect("seen").push((headers, body));
                    axum::Json(json!({"welcomed": true}))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_target_type_gets_the_documented_request_signed_with_its_secret(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let (url, seen) = recording_target().await;
    let defined = define(
        &stack,
        "welcome",
        &json!({
            "handler": {"target": {"url": url, "headers": {"x-team": "growth"}, "auth": {"kind": "hmac"}}},
            "payload_schema": {"type": "object", "required": ["user_id"]}
        }),
    )
    .await;
    let secret = defined["secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();

    let id = stack
        .submit(&json!({"type": "welcome", "payload": {"user_id": "u1"}}))
        .await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({"welcomed": true}));

    let (headers, body) = seen
        .lock()
        .expect("seen")
        .first()
        .cloned()
        .expect("one request");
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("jobs-job-id").as_deref(), Some(id.as_str()));
    assert_eq!(header("idempotency-key").as_deref(), Some(id.as_str()));
    assert_eq!(header("jobs-attempt").as_deref(), Some("1"));
    assert_eq!(header("x-team").as_deref(), Some("growth"));
    let sent: Value = serde_json::from_slice(&body).expect("json body");
    assert_eq!(sent["job"]["id"], id.as_str());
    assert_eq!(sent["job"]["type"], "welcome");
    assert_eq!(sent["job"]["payload"], json!({"user_id": "u1"}));

    let signature = header("jobs-signature").expect("signed");
    let now = Utc::now().timestamp();
    let tolerance = Duration::from_secs(300);
    jobs_job_types::signature::verify(&secret, &signature, &body, now, tolerance)
        .expect("the signature verifies with the type's secret");
    assert!(
        jobs_job_types::signature::verify("whsec_another", &signature, &body, now, tolerance)
            .is_err(),
        "and not with another"
    );
}

/// A minimal SMTP server that defers the first message (451, a transient
/// failure) and accepts and keeps every later one.
pub(crate) async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
    let port = listener.local_addr().expect("addr").port();
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = messages.clone();
    let deferred = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            let deferred = deferred.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(text) = data.as_mut() {
                        if line == "." {
                            let first = !deferred.swap(true, std::sync::atomic::Ordering::SeqCst);
                            let reply: &[u8] = if first {
                                b"451 try again later\r\n"
                            } else {
                                kept.lock().expect("kept").push(std::mem::take(text));
                                b"250 queued\r\n"
                            };
                            data = None;
                            let _ = write.write_all(reply).await;
                        } else {
                            text.push_str(&line);
                            text.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                }
            });
        }
    });
    (port, messages)
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_email_type_sends_its_message_through_smtp_under_its_own_policies(pool: PgPool) {
    let (smtp_port, messages) = smtp_sink().await;
    let mut stack = Stack::without_emulator(pool.clone()).await;
    stack.set_worker_env("SMTP_URL", &format!("smtp://127.0.0.1:{smtp_port}"));
    stack.start_emulator().await;
    stack.start_worker().await;
    define(
        &stack,
        "sign-in-email",
        &json!({
            "handler": {"builtin": "email"},
            "payload_schema": {"type": "object", "required": ["user_id"]},
            "max_attempts": 5,
            "retry": {"strategy": "exponential", "initial_delay_seconds": 2, "max_delay_seconds": 16}
        }),
    )
    .await;

    let id = stack
        .submit(&json!({"type": "sign-in-email", "payload": {
            "user_id": "u1", "to": ["jane@example.com"], "subject": "Your sign-in link", "body": "Click."
        }}))
        .await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"]["transport"], "smtp");
    // Deferred once, then retried on the type's schedule, not Pub/Sub's.
    assert_eq!(job["attempts"], 2);
    let retried: Option<String> = sqlx::query_scalar(
        "select detail from job_events where job_id = $1 and event = 'failed_retryable'",
    )
    .bind(uuid::Uuid::parse_str(&id).expect("uuid"))
    .fetch_one(&pool)
    .await
    .expect("the deferral's event");
    let retried = retried.unwrap_or_default();
    assert!(retried.ends_with("next attempt in 2 s"), "{retried}");
    let sent = tokio::time::timeout(GUARD, async {
        loop {
            if let Some(message) = messages.lock().expect("messages").first().cloned() {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sink got the message");
    assert!(sent.contains("Subject: Your sign-in link"), "{sent}");
    assert!(
        !sent.contains("u1"),
        "the type's own field stays out of the message"
    );
}

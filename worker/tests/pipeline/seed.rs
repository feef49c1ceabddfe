//! The seed scenario end to end: a sign-in notification type built on the
//! `email` handler, retried on its own schedule, rate-limited per user, with
//! its messages arriving at a local SMTP sink.

use crate::harness::{GUARD, Stack};
use crate::job_types::{define, smtp_sink};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

fn signin_email(user: &str, n: usize) -> Value {
    json!({"type": "signin-email", "payload": {
        "user_id": user,
        "to": [format!("{user}@example.com")],
        "subject": format!("Your sign-in link #{n}"),
        "body": "Click the link to sign in."
    }})
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_eleventh_sign_in_email_for_a_user_within_the_hour_is_refused_and_the_rest_arrive(
    pool: PgPool,
) {
    let (smtp_port, messages) = smtp_sink().await;
    let mut stack = Stack::without_emulator(pool.clone()).await;
    stack.set_worker_env("SMTP_URL", &format!("smtp://127.0.0.1:{smtp_port}"));
    stack.start_emulator().await;
    stack.start_worker().await;
    define(
        &stack,
        "signin-email",
        &json!({
            "handler": {"builtin": "email"},
            "payload_schema": {"type": "object", "required": ["user_id", "to", "subject", "body"],
                               "properties": {"user_id": {"type": "string"}}},
            "max_attempts": 5,
            "retry": {"strategy": "exponential", "initial_delay_seconds": 2, "max_delay_seconds": 16},
            "rate_limit": {"key": "/user_id", "limit": 10, "period_seconds": 3600,
                           "when_exceeded": "reject"}
        }),
    )
    .await;

    let mut ids = Vec::new();
    for n in 1..=10 {
        ids.push(stack.submit(&signin_email("u1", n)).await);
    }
    let eleventh = stack
        .client
        .post(format!("{}/v1/jobs", stack.api))
        .bearer_auth(&stack.api_key)
        .json(&signin_email("u1", 11))
        .send()
        .await
        .expect("submit");
    assert_eq!(eleventh.status(), 429);
    let retry_after: u64 = eleventh
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("Retry-After");
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    let problem: Value = eleventh.json().await.expect("problem");
    assert_eq!(problem["type"], "urn:problem:job-rate-limited");
    // Another user is not limited by the first one's emails.
    ids.push(stack.submit(&signin_email("u2", 1)).await);

    for id in &ids {
        let job = stack.finished(id).await;
        assert_eq!(job["status"], "completed", "{job}");
    }
    let subjects = tokio::time::timeout(GUARD, async {
        loop {
            let sent = messages.lock().expect("messages").clone();
            if sent.len() >= ids.len() {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("every accepted email reached the sink");
    assert_eq!(subjects.len(), 11);
    assert!(
        !subjects.iter().any(|message| message.contains("#11")),
        "the refused email was never sent"
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from jobs where type = 'signin-email'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 11);
}

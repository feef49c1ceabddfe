use crate::harness::Stack;
use jobs_domain::job_message::{
    DEAD_LETTER_SUBSCRIPTION, MAX_DELIVERY_ATTEMPTS, WORKER_SUBSCRIPTION,
};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_permanent_error_fails_the_job_after_one_attempt(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let id = stack.submit(&stack.target.job("/missing/x")).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 1);
    assert!(job["error"].as_str().expect("error").contains("404"));
    assert_eq!(stack.target.hits("/missing/x"), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_that_always_fails_gets_all_its_attempts_across_dead_letters(pool: PgPool) {
    let stack = Stack::start(pool).await;
    // More attempts than Pub/Sub's deliveries: the dead-letter requeues the
    // job, and its own max_attempts ends it.
    let mut body = stack.target.job("/fail/always");
    body["max_attempts"] = json!(10);
    let id = stack.submit(&body).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["failure_reason"], "attempts_exhausted");
    let error = job["error"].as_str().expect("error");
    assert!(error.contains("500"), "{error}");
    assert_eq!(job["attempts"], 10);
    let events = stack.events(&id).await;
    assert_eq!(
        events.last().map(|(e, _)| e.as_str()),
        Some("attempts_exhausted")
    );
    assert!(events.iter().any(|(e, _)| e == "requeued"), "{events:?}");

    // Pub/Sub is done with the messages: the first was dead-lettered after
    // its deliveries and acked there, nothing is left to deliver, and the
    // handler ran once per attempt.
    let emulator = stack.emulator.as_ref().expect("emulator");
    let stats = emulator.stats();
    let source = stats.subscription(WORKER_SUBSCRIPTION);
    let deliveries = u64::try_from(MAX_DELIVERY_ATTEMPTS).expect("small");
    assert!(source.dead_lettered >= 1, "{}", source.dead_lettered);
    assert_eq!(source.backlog, 0);
    let dead_letters = stats.subscription(DEAD_LETTER_SUBSCRIPTION);
    assert_eq!(dead_letters.acks, source.dead_lettered);
    assert!(deliveries < 10);
    assert_eq!(stack.target.hits("/fail/always"), 10);
}

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
async fn a_job_that_always_fails_is_dead_lettered_with_its_error_kept(pool: PgPool) {
    let stack = Stack::start(pool).await;
    // More attempts than Pub/Sub's deliveries, so the dead-letter path ends it.
    let mut body = stack.target.job("/fail/always");
    body["max_attempts"] = json!(10);
    let id = stack.submit(&body).await;
    let job = stack.finished(&id).await;
    assert_eq!(job["status"], "failed");
    let error = job["error"].as_str().expect("error");
    assert!(
        error.contains("dead-letter") && error.contains("500"),
        "{error}"
    );
    let deliveries = u32::try_from(MAX_DELIVERY_ATTEMPTS).expect("small");
    assert_eq!(job["attempts"], deliveries);
    let events = stack.events(&id).await;
    assert_eq!(
        events.last().map(|(e, _)| e.as_str()),
        Some("dead_lettered")
    );

    // Pub/Sub is done with the message: acked on the dead-letter subscription,
    // nothing left to deliver, and the handler ran once per delivery.
    let emulator = stack.emulator.as_ref().expect("emulator");
    let stats = emulator.stats();
    let source = stats.subscription(WORKER_SUBSCRIPTION);
    assert_eq!((source.dead_lettered, source.backlog), (1, 0));
    let dead_letters = stats.subscription(DEAD_LETTER_SUBSCRIPTION);
    assert_eq!((dead_letters.acks, dead_letters.backlog), (1, 0));
    assert_eq!(stack.target.hits("/fail/always"), deliveries);
}

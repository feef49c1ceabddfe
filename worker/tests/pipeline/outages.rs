//! Outages that keep deliveries from even trying a job spend no attempt and
//! fail no job: Pub/Sub dead-letters the messages, and the dead-letters
//! requeue the jobs once a worker can answer them.

use crate::harness::{GUARD, Stack};
use jobs_domain::job_message::WORKER_SUBSCRIPTION;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

const JOBS: usize = 30;

/// Waits until Pub/Sub has given up on every job's first message: each was
/// delivered (and failed) as often as the dead-letter policy allows.
async fn wait_until_every_message_is_dead_lettered(stack: &Stack) {
    let emulator = stack.emulator.as_ref().expect("emulator");
    tokio::time::timeout(GUARD, async {
        while emulator
            .stats()
            .subscription(WORKER_SUBSCRIPTION)
            .dead_lettered
            < JOBS as u64
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("every message dead-lettered within the guard");
}

async fn submit_noops(stack: &Stack) -> Vec<String> {
    let mut ids = Vec::with_capacity(JOBS);
    for _ in 0..JOBS {
        ids.push(stack.submit(&json!({"type": "noop", "payload": {}})).await);
    }
    ids
}

/// Every job completed on its first attempt: the outage spent none.
async fn assert_all_completed_on_one_attempt(stack: &Stack, ids: &[String]) {
    for id in ids {
        let job = stack.finished(id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
        let events: Vec<String> = stack.events(id).await.into_iter().map(|(e, _)| e).collect();
        assert!(events.contains(&"requeued".to_owned()), "{events:?}");
        assert!(!events.contains(&"dead_lettered".to_owned()), "{events:?}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn jobs_outlive_a_worker_outage_longer_than_the_dead_letter_policy(pool: PgPool) {
    let mut stack = Stack::start(pool).await;
    stack.kill_worker().await;
    let ids = submit_noops(&stack).await;

    wait_until_every_message_is_dead_lettered(&stack).await;
    stack.start_worker().await;

    assert_all_completed_on_one_attempt(&stack, &ids).await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn jobs_outlive_a_database_outage_longer_than_the_dead_letter_policy(pool: PgPool) {
    let mut stack = Stack::start(pool).await;
    stack.kill_worker().await;
    stack.start_worker_without_database().await;
    let ids = submit_noops(&stack).await;

    // Every delivery, and then every dead-letter, is answered 503.
    wait_until_every_message_is_dead_lettered(&stack).await;
    stack.kill_worker().await;
    stack.start_worker().await;

    assert_all_completed_on_one_attempt(&stack, &ids).await;
}

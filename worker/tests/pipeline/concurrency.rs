//! Per-key concurrency limits through the real processes: a tenant's type
//! with `"concurrency": {"key": "/account_id", "limit": 1}` whose target
//! (`/overlap`) records how many calls of one account overlap.

use crate::harness::{GUARD, Stack};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

const TYPE: &str = "account.sync";

/// Defines the limited type, calling the stack's `/overlap` target.
async fn define_limited_type(stack: &Stack) {
    let response = stack
        .client
        .put(format!("{}/v1/job-types/{TYPE}", stack.api))
        .bearer_auth(&stack.api_key)
        .json(&json!({
            "handler": {"target": {"url": format!("{}/overlap", stack.target.url)}},
            "concurrency": {"key": "/account_id", "limit": 1}
        }))
        .send()
        .await
        .expect("put job type");
    assert_eq!(response.status(), 201, "the type is defined");
}

fn job(payload: Value) -> Value {
    json!({"type": TYPE, "payload": payload})
}

/// Waits, within the guard, until `done` holds.
async fn eventually(what: &str, done: impl AsyncFn() -> bool) {
    tokio::time::timeout(GUARD, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"));
}

async fn has_event(stack: &Stack, id: &str, event: &str) -> bool {
    stack.events(id).await.iter().any(|(e, _)| e == event)
}

/// Submits 50 jobs for one account while the first holds the account's one
/// slot (so the others are certainly deferred), lets it go, and checks that
/// the 50 ran one at a time, each on its first attempt, none dead-lettered.
pub async fn fifty_jobs_for_one_account_run_one_at_a_time(stack: &Stack) {
    define_limited_type(stack).await;
    let first = stack
        .submit(&job(json!({"account_id": "acct-1", "hold": "first"})))
        .await;
    eventually("the first job runs", async || {
        stack.target.runs("acct-1").running == 1
    })
    .await;
    let body = job(json!({"account_id": "acct-1", "ms": 75}));
    let mut ids = futures::future::join_all((1..50).map(|_| stack.submit(&body))).await;
    eventually("a job waiting for the slot is deferred", async || {
        for id in &ids {
            if has_event(stack, id, "deferred").await {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(stack.target.runs("acct-1").calls, 1, "nothing else ran");
    stack.target.open("first");
    ids.insert(0, first);

    for id in &ids {
        let job = stack.finished(id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["attempts"], 1, "deferrals spend no attempt: {job}");
        assert_eq!(job["failure_reason"], Value::Null, "{job}");
        let events = stack.events(id).await;
        assert!(
            !events
                .iter()
                .any(|(e, _)| e == "dead_lettered" || e == "requeued"),
            "{id}: {events:?}"
        );
    }
    let runs = stack.target.runs("acct-1");
    assert_eq!(runs.most_at_once, 1, "calls of one account overlapped");
    assert_eq!(runs.calls, 50, "each job's one attempt, and no other call");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn fifty_jobs_for_one_account_with_limit_1_never_overlap_and_all_complete_on_their_first_attempt(
    pool: PgPool,
) {
    let stack = Stack::start(pool).await;
    fifty_jobs_for_one_account_run_one_at_a_time(&stack).await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn with_two_worker_processes_fifty_jobs_for_one_account_still_never_overlap(pool: PgPool) {
    let mut stack = Stack::without_emulator(pool).await;
    stack.start_emulator().await;
    stack.start_balanced_workers(2).await;
    fifty_jobs_for_one_account_run_one_at_a_time(&stack).await;

    // Both processes took deliveries of the jobs, and both ran some.
    for worker in stack.balanced_worker_urls() {
        let metrics = stack
            .client
            .get(format!("{worker}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        assert!(
            metrics.contains(r#"jobs_deliveries_total{subscription="jobs",answer="completed"}"#),
            "{worker} completed none: {metrics}"
        );
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn another_accounts_jobs_run_while_one_account_holds_its_slot(pool: PgPool) {
    let stack = Stack::start(pool).await;
    define_limited_type(&stack).await;
    let held = stack
        .submit(&job(json!({"account_id": "a", "hold": "a"})))
        .await;
    eventually("a's first job runs", async || {
        stack.target.runs("a").running == 1
    })
    .await;
    let waiting = stack
        .submit(&job(json!({"account_id": "a", "ms": 1})))
        .await;
    let others = [
        stack
            .submit(&job(json!({"account_id": "b", "ms": 1})))
            .await,
        stack
            .submit(&job(json!({"account_id": "b", "ms": 1})))
            .await,
    ];

    // b's jobs finish while a's first job still holds a's slot.
    for id in &others {
        let job = stack.finished(id).await;
        assert_eq!(job["status"], "completed", "{job}");
    }
    assert_eq!(stack.job(&held).await["status"], "processing");

    // a's second job is deferred: pending, run_at ahead, event `deferred`.
    eventually("a's second job is deferred", async || {
        has_event(&stack, &waiting, "deferred").await
    })
    .await;
    let deferred = stack.job(&waiting).await;
    assert_eq!(deferred["status"], "pending", "{deferred}");
    assert_eq!(deferred["attempts"], 0, "{deferred}");
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(deferred[field].as_str().expect(field)).expect(field)
    };
    assert!(at("run_at") > at("updated_at"), "run_at ahead: {deferred}");
    assert_eq!(
        stack.target.runs("a").calls,
        1,
        "a's second job did not run"
    );

    stack.target.open("a");
    for id in [&held, &waiting] {
        let job = stack.finished(id).await;
        assert_eq!(
            (job["status"].clone(), job["attempts"].clone()),
            (json!("completed"), json!(1))
        );
    }
    assert_eq!(stack.target.runs("a").most_at_once, 1);
    assert_eq!(stack.target.runs("b").calls, 2);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_scheduled_job_of_a_limited_type_waits_for_its_keys_slot(pool: PgPool) {
    let stack = Stack::start(pool).await;
    define_limited_type(&stack).await;
    let held = stack
        .submit(&job(json!({"account_id": "s", "hold": "s"})))
        .await;
    eventually("the held job runs", async || {
        stack.target.runs("s").running == 1
    })
    .await;
    let created = stack
        .client
        .put(format!("{}/v1/schedules/sync-s", stack.api))
        .bearer_auth(&stack.api_key)
        .json(&json!({"cron": "* * * * * *", "timezone": "UTC",
                      "job": {"type": TYPE, "payload": {"account_id": "s", "ms": 1}}}))
        .send()
        .await
        .expect("put schedule");
    assert_eq!(created.status(), 201);

    // The schedule's first job is deferred while the held one holds the slot.
    let scheduled = async || -> Vec<String> {
        let listed = stack.get("/v1/jobs?schedule=sync-s&limit=100").await;
        listed["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter_map(|job| job["id"].as_str().map(str::to_owned))
            .collect()
    };
    eventually("a scheduled job is deferred", async || {
        for id in scheduled().await {
            if has_event(&stack, &id, "deferred").await {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(stack.target.runs("s").calls, 1, "no scheduled job ran");
    assert_eq!(stack.post("/v1/schedules/sync-s/pause").await, 200);

    stack.target.open("s");
    stack.finished(&held).await;
    for id in scheduled().await {
        let job = stack.finished(&id).await;
        assert_eq!(job["status"], "completed", "{job}");
    }
    assert_eq!(stack.target.runs("s").most_at_once, 1);
}

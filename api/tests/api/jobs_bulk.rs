//! Bulk operations over HTTP: batch submits (one statement, every item
//! checked first, idempotency keys as if sequential) and failed jobs listed
//! by reason and replayed in bulk.

use crate::helpers::{assert_problem, pubsub_settings, spawn_app, test_settings};
use jobs_api::startup::build_on;
use jobs_domain::{Claim, JobId, JobStore, Outcome, RequeuePolicy};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// Counts the statements that insert into `jobs` and into `job_events`.
async fn count_insert_statements(pool: &PgPool) {
    for statement in [
        "create table inserts (tbl text not null)",
        "create function count_insert() returns trigger language plpgsql as $$
         begin insert into inserts values (tg_table_name); return null; end $$",
        "create trigger count_job_inserts after insert on jobs
         for each statement execute function count_insert()",
        "create trigger count_event_inserts after insert on job_events
         for each statement execute function count_insert()",
    ] {
        sqlx::query(statement).execute(pool).await.expect("counter");
    }
}

async fn insert_statements(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar("select count(*) from inserts where tbl = $1")
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn stored(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_batch_of_500_is_stored_in_one_statement_and_answered_in_order(pool: PgPool) {
    let app = spawn_app_with_room(pool.clone()).await;
    count_insert_statements(&pool).await;
    let jobs: Vec<Value> = (0..500)
        .map(|n| json!({"type": "noop", "payload": {"n": n}}))
        .collect();
    let response = app
        .post_json("/v1/jobs/batch", &json!({"jobs": jobs}))
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    let answered = body["jobs"].as_array().expect("jobs");
    assert_eq!(answered.len(), 500);
    for (n, job) in answered.iter().enumerate() {
        assert_eq!(job["payload"]["n"], n, "in the order submitted");
        assert_eq!(job["status"], "pending");
    }
    assert_eq!(stored(&pool).await, 500);
    assert_eq!(insert_statements(&pool, "jobs").await, 1, "one statement");
    assert_eq!(insert_statements(&pool, "job_events").await, 1);
    let events: i64 =
        sqlx::query_scalar("select count(*) from job_events where event = 'submitted'")
            .fetch_one(&pool)
            .await
            .expect("events");
    assert_eq!(events, 500);
}

/// The test app, and on the same database and emulator a second one with
/// the default body limit (256 KiB), which a batch of 500 fits in.
async fn spawn_app_with_room(pool: PgPool) -> crate::helpers::TestApp {
    let mut app = spawn_app(pool.clone()).await;
    let mut settings = test_settings(&pubsub_settings(&app.emulator.host()), &[]);
    settings.requests.max_body_bytes = 256 * 1024;
    let server = build_on(&settings, pool).await.expect("the API builds");
    app.address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped(std::future::pending()));
    app
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_bad_item_is_named_by_its_index_and_nothing_of_the_batch_is_stored(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let batch = json!({"jobs": [
        {"type": "noop", "payload": {}},
        {"type": "nope", "payload": {}},
        {"type": "noop", "payload": {}},
        {"type": "noop", "payload": {}, "max_attempts": 0},
        {"type": "noop"},
    ]});
    let problem = assert_problem(
        app.post_json("/v1/jobs/batch", &batch).await,
        422,
        "invalid-fields",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|error| error["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["jobs/1/type", "jobs/3/max_attempts", "jobs/4/payload"]
    );
    assert_eq!(stored(&pool).await, 0);

    for jobs in [
        json!([]),
        json!(vec![json!({"type": "noop", "payload": {}}); 501]),
    ] {
        let problem = assert_problem(
            app.post_json("/v1/jobs/batch", &json!({"jobs": jobs}))
                .await,
            422,
            "invalid-fields",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "jobs");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn idempotency_keys_in_a_batch_behave_as_if_the_jobs_were_submitted_one_by_one(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let keyed =
        |key: &str, n: i64| json!({"type": "noop", "payload": {"n": n}, "idempotency_key": key});
    let original = app.submitted_job(&keyed("k1", 1)).await;
    let batch = json!({"jobs": [keyed("k1", 1), keyed("k2", 2), keyed("k2", 2),
                                {"type": "noop", "payload": {"n": 3}}]});
    let response = app.post_json("/v1/jobs/batch", &batch).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.expect("json");
    let ids: Vec<&str> = body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|job| job["id"].as_str())
        .collect();
    assert_eq!(ids[0], original["id"], "a replay of the earlier submit");
    assert_eq!(ids[1], ids[2], "a replay of the earlier item");
    assert_ne!(ids[3], ids[1]);
    assert_eq!(stored(&pool).await, 3);

    // A key reused with another body, stored or in the batch: nothing is stored.
    for conflicting in [
        json!({"jobs": [{"type": "noop", "payload": {}}, keyed("k1", 9)]}),
        json!({"jobs": [keyed("k3", 1), keyed("k3", 2)]}),
    ] {
        let problem = assert_problem(
            app.post_json("/v1/jobs/batch", &conflicting).await,
            409,
            "conflict",
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("jobs/1")),
            "{problem}"
        );
    }
    assert_eq!(stored(&pool).await, 3);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn failed_jobs_are_listed_by_reason_and_finish_time_and_replayed_in_bulk(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let store = JobStore::new(pool.clone());
    let submit = |attempts: i64| json!({"type": "noop", "payload": {}, "max_attempts": attempts});
    let mut dead = Vec::new();
    for _ in 0..3 {
        let job = app.submitted_job(&submit(3)).await;
        let id = job_id(&job);
        let policy = RequeuePolicy {
            limit: 0,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(1),
        };
        store
            .dead_letter(id, "dead-letter-1", "dead-lettered", policy)
            .await
            .expect("dead-letter");
        dead.push(id);
    }
    let permanent = job_id(&app.submitted_job(&submit(3)).await);
    let Claim::Claimed(claimed) = store.claim(permanent, Duration::ZERO).await.expect("claim")
    else {
        panic!("claimed");
    };
    store
        .record(&claimed, Outcome::Permanent("404".into()))
        .await
        .expect("record");
    let timed_out = job_id(&app.submitted_job(&submit(1)).await);
    let Claim::Claimed(claimed) = store.claim(timed_out, Duration::ZERO).await.expect("claim")
    else {
        panic!("claimed");
    };
    store
        .record(
            &claimed,
            Outcome::TimedOut {
                error: "timed out after 1 s".into(),
                retry_in: None,
            },
        )
        .await
        .expect("record");

    let listed = |query: &str| {
        let path = format!("/v1/jobs?{query}");
        let app = &app;
        async move {
            let body: Value = app.get(&path).await.json().await.expect("json");
            body["jobs"].as_array().expect("jobs").len()
        }
    };
    assert_eq!(
        listed("status=failed&failure_reason=dead_lettered").await,
        3
    );
    assert_eq!(listed("failure_reason=timed_out").await, 1);
    assert_eq!(listed("failure_reason=permanent_error").await, 1);
    assert_eq!(listed("finished_after=2000-01-01T00:00:00Z").await, 5);
    assert_eq!(listed("finished_before=2000-01-01T00:00:00Z").await, 0);
    let bad = app
        .get("/v1/jobs?failure_reason=bored&finished_after=yesterday")
        .await;
    let problem = assert_problem(bad, 422, "invalid-fields").await;
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(2));

    let first: Value = app
        .post_json(
            "/v1/jobs/retry",
            &json!({"failure_reason": "dead_lettered", "limit": 2}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["requeued"], 2);
    let token = first["next_page_token"].as_str().expect("another page");
    let rest: Value = app
        .post_json(
            "/v1/jobs/retry",
            &json!({"failure_reason": "dead_lettered", "limit": 2, "page_token": token}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["requeued"], 1);
    assert!(rest.get("next_page_token").is_none());
    for id in dead {
        let job: Value = app
            .get(&format!("/v1/jobs/{id}"))
            .await
            .json()
            .await
            .expect("job");
        assert_eq!(job["status"], "pending");
        assert!(
            job["failure_reason"].is_null() && job["error"].is_null(),
            "{job}"
        );
        let events: Value = app
            .get(&format!("/v1/jobs/{id}/events"))
            .await
            .json()
            .await
            .expect("events");
        let last = events["events"].as_array().and_then(|e| e.last()).cloned();
        assert_eq!(last.map(|e| e["event"].clone()), Some(json!("retried")));
    }
    assert_eq!(listed("status=failed").await, 2, "the others stay failed");

    let problem = assert_problem(
        app.post_json("/v1/jobs/retry", &json!({"limit": 1001}))
            .await,
        422,
        "invalid-fields",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "limit");
}

fn job_id(job: &Value) -> JobId {
    JobId(
        job["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an id"),
    )
}

//! The job store against a real PostgreSQL: one fresh database per test.

use jobs_domain::api_keys::create_key;
use jobs_domain::{
    Claim, FailureReason, Idempotency, Job, JobEvent, JobFilter, JobId, JobState, JobStatus,
    JobStore, NewJob, Outcome, Recorded, RequeuePolicy, StoreError, TenantId,
};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;

const GRACE: Duration = Duration::from_secs(30);

/// A policy that fails a job at its first dead-letter.
const NO_REQUEUE: RequeuePolicy = RequeuePolicy {
    limit: 0,
    delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(1),
};

fn store(pool: &PgPool) -> JobStore {
    JobStore::new(pool.clone())
}

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    create_key(pool, name).await.expect("create tenant").tenant
}

fn noop(max_attempts: i32) -> NewJob {
    NewJob {
        job_type: "noop".into(),
        payload: json!({"n": 1}),
        max_attempts,
        timeout_seconds: 30,
        run_at: None,
        idempotency: None,
        callback_url: None,
        concurrency_key: None,
    }
}

fn keyed(key: &str, hash: u8) -> NewJob {
    NewJob {
        idempotency: Some(Idempotency {
            key: key.into(),
            request_hash: vec![hash; 32],
        }),
        ..noop(3)
    }
}

async fn submitted(store: &JobStore, tenant: TenantId, max_attempts: i32) -> JobId {
    store
        .insert(tenant, noop(max_attempts))
        .await
        .expect("insert")
        .job
        .id
}

async fn claimed(store: &JobStore, id: JobId) -> Job {
    match store.claim(id, GRACE).await.expect("claim") {
        Claim::Claimed(job) => job,
        other => panic!("expected a claim, got {other:?}"),
    }
}

/// The job's `updated_at`, as the reconciler reads it with its messages.
async fn version(pool: &PgPool, id: JobId) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("select updated_at from jobs where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("updated_at")
}

async fn events(store: &JobStore, tenant: TenantId, id: JobId) -> Vec<String> {
    store
        .history(tenant, id)
        .await
        .expect("history")
        .into_iter()
        .map(|e| e.event)
        .collect()
}

/// Moves every timestamp of a job an hour into the past, as if an hour went by:
/// leases expire, delays come due, graces pass.
async fn age_an_hour(pool: &PgPool, id: JobId) {
    sqlx::query(
        "update jobs set run_at = run_at - interval '1 hour',
             lease_expires_at = lease_expires_at - interval '1 hour',
             published_at = published_at - interval '1 hour',
             created_at = created_at - interval '1 hour',
             updated_at = updated_at - interval '1 hour',
             started_at = started_at - interval '1 hour'
         where id = $1",
    )
    .bind(id)
    .execute(pool)
    .await
    .expect("age job");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn insert_stores_a_pending_job_with_its_submitted_event(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let submitted = store.insert(t, noop(3)).await.expect("insert");
    assert!(submitted.created);
    let job = store.get(t, submitted.job.id).await.expect("get");
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!((job.attempts, job.max_attempts), (0, 3));
    assert_eq!(job.payload, json!({"n": 1}));
    let history = store.history(t, job.id).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].to_status, JobStatus::Pending);
    assert_eq!(history[0].event, "submitted");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_claim_leases_the_job_and_success_completes_it(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = claimed(&store, id).await;
    assert_eq!(job.attempts, 1);
    let recorded = store
        .record(&job, Outcome::Succeeded(json!({"ok": true})))
        .await
        .expect("record");
    let Recorded::Completed(job) = recorded else {
        panic!("outcome dropped")
    };
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.result, Some(json!({"ok": true})));
    assert!(job.started_at.is_some() && job.finished_at.is_some());
    assert_eq!(
        events(&store, t, id).await,
        ["submitted", "claimed", "succeeded"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_retryable_error_returns_the_job_to_pending_until_attempts_run_out(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 2).await;
    for attempt in 1..=2 {
        let job = claimed(&store, id).await;
        assert_eq!(job.attempts, attempt);
        store
            .record(&job, Outcome::Retryable(format!("boom {attempt}")))
            .await
            .expect("record");
    }
    let job = store.get(t, id).await.expect("get");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("boom 2"));
    let history = store.history(t, id).await.expect("history");
    let to: Vec<JobStatus> = history.iter().map(|e| e.to_status).collect();
    use JobStatus::*;
    assert_eq!(to, [Pending, Processing, Pending, Processing, Failed]);
    assert_eq!(history[2].detail.as_deref(), Some("boom 1"));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_permanent_error_fails_the_job_at_once(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 5).await;
    let job = claimed(&store, id).await;
    store
        .record(&job, Outcome::Permanent("bad request".into()))
        .await
        .expect("record");
    let job = store.get(t, id).await.expect("get");
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 1));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn claims_of_leased_finished_missing_and_future_jobs_say_why(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = claimed(&store, id).await;
    assert!(matches!(
        store.claim(id, GRACE).await.expect("claim"),
        Claim::Busy(_)
    ));
    store
        .record(&job, Outcome::Succeeded(json!(null)))
        .await
        .expect("record");
    assert!(matches!(
        store.claim(id, GRACE).await.expect("claim"),
        Claim::Finished(_)
    ));
    assert_eq!(
        store.claim(JobId::new(), GRACE).await.expect("claim"),
        Claim::NotFound
    );

    let later = NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..noop(3)
    };
    let later = store.insert(t, later).await.expect("insert").job.id;
    assert!(matches!(
        store.claim(later, GRACE).await.expect("claim"),
        Claim::NotDue(_)
    ));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_expired_lease_is_claimed_again_and_the_old_outcome_is_dropped(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let first = claimed(&store, id).await;
    age_an_hour(&pool, id).await;
    assert_eq!(claimed(&store, id).await.attempts, 2);
    let stale = store
        .record(&first, Outcome::Succeeded(json!("late")))
        .await
        .expect("record");
    assert_eq!(stale, Recorded::Stale);
    assert_eq!(
        events(&store, t, id).await,
        ["submitted", "claimed", "lease_expired"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_expired_lease_on_the_last_attempt_fails_the_job(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 1).await;
    claimed(&store, id).await;
    age_an_hour(&pool, id).await;
    let Claim::Exhausted(job) = store.claim(id, GRACE).await.expect("claim") else {
        panic!("expected exhaustion")
    };
    assert_eq!((job.status, job.attempts), (JobStatus::Failed, 1));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn cancel_and_retry_follow_the_state_machine(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let cancelled = store.cancel(t, id).await.expect("cancel");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let err = store.cancel(t, id).await.expect_err("second cancel");
    assert!(matches!(err, StoreError::Transition(e) if e.event == JobEvent::Cancelled));
    let retried = store.retry(t, id).await.expect("retry");
    assert_eq!(
        (retried.status, retried.finished_at),
        (JobStatus::Pending, None)
    );

    // A running job's cancel is a request; the handler that finishes first keeps its outcome.
    let job = claimed(&store, id).await;
    let requested = store.cancel(t, id).await.expect("cancel while processing");
    assert_eq!(requested.status, JobStatus::Processing);
    assert!(requested.cancel_requested_at.is_some());
    let again = store.cancel(t, id).await.expect("asked again");
    assert_eq!(again, requested, "a second request changes nothing");
    let recorded = store
        .record(&job, Outcome::Succeeded(json!(1)))
        .await
        .expect("record");
    assert!(matches!(recorded, Recorded::Completed(_)), "{recorded:?}");
    assert!(matches!(
        store.cancel(t, id).await,
        Err(StoreError::Transition(e)) if e.from == JobStatus::Completed
    ));
    assert!(matches!(
        store.retry(t, id).await,
        Err(StoreError::Transition(_))
    ));
    assert_eq!(
        events(&store, t, id).await,
        [
            "submitted",
            "cancelled",
            "retried",
            "claimed",
            "cancel_requested",
            "succeeded"
        ]
    );
}

/// The job's lease, by the database clock: seconds from now to its expiry.
async fn lease_left(pool: &PgPool, id: JobId) -> Option<f64> {
    sqlx::query_scalar(
        "select extract(epoch from lease_expires_at - now())::float8 from jobs where id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("lease")
}

async fn event_details(
    store: &JobStore,
    tenant: TenantId,
    id: JobId,
) -> Vec<(String, Option<String>)> {
    store
        .history(tenant, id)
        .await
        .expect("history")
        .into_iter()
        .map(|e| (e.event, e.detail))
        .collect()
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_claim_leases_for_the_given_time_and_a_heartbeat_extends_only_its_own_attempt(
    pool: PgPool,
) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let Claim::Claimed(first) = store
        .claim(id, Duration::from_secs(3))
        .await
        .expect("claim")
    else {
        panic!("claimed");
    };
    let left = lease_left(&pool, id).await.expect("leased");
    assert!(
        (2.0..=3.0).contains(&left),
        "a few heartbeats, not the timeout: {left}"
    );
    assert_eq!(
        store
            .extend_lease(&first, Duration::from_secs(60))
            .await
            .expect("beat"),
        Some(false)
    );
    let left = lease_left(&pool, id).await.expect("leased");
    assert!((59.0..=60.0).contains(&left), "{left}");
    let before = store.get(t, id).await.expect("job");
    assert_eq!(
        events(&store, t, id).await,
        ["submitted", "claimed"],
        "no history entry"
    );

    age_an_hour(&pool, id).await;
    let second = claimed(&store, id).await;
    assert_eq!(
        store
            .extend_lease(&first, Duration::from_secs(60))
            .await
            .expect("beat"),
        None,
        "the lease was taken over"
    );
    assert_eq!(
        store
            .extend_lease(&second, Duration::from_secs(60))
            .await
            .expect("beat"),
        Some(false)
    );
    store
        .record(&second, Outcome::Succeeded(json!(1)))
        .await
        .expect("record");
    assert_eq!(
        store
            .extend_lease(&second, Duration::from_secs(60))
            .await
            .expect("beat"),
        None,
        "finished"
    );
    assert!(before.updated_at <= store.get(t, id).await.expect("job").updated_at);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_running_jobs_cancel_reaches_its_heartbeat_its_worker_cancels_it_and_a_retry_starts_clean(
    pool: PgPool,
) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = claimed(&store, id).await;
    assert_eq!(store.cancel_requested(&[id]).await.expect("ask"), []);
    store.cancel(t, id).await.expect("request");
    assert_eq!(
        store.extend_lease(&job, GRACE).await.expect("beat"),
        Some(true)
    );
    assert_eq!(
        store
            .cancel_requested(&[id, JobId::new()])
            .await
            .expect("ask"),
        [id]
    );
    let Recorded::Cancelled(cancelled) = store
        .record(&job, Outcome::Cancelled)
        .await
        .expect("record")
    else {
        panic!("cancelled");
    };
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert_eq!(store.extend_lease(&job, GRACE).await.expect("beat"), None);
    assert_eq!(
        event_details(&store, t, id).await,
        [
            ("submitted".to_owned(), None),
            ("claimed".to_owned(), None),
            ("cancel_requested".to_owned(), None),
            (
                "cancelled".to_owned(),
                Some("cancelled while running: the worker stopped attempt 1".to_owned())
            ),
        ]
    );
    let retried = store.retry(t, id).await.expect("retry");
    assert_eq!(
        retried.cancel_requested_at, None,
        "a retried job starts clean"
    );
    assert_eq!(claimed(&store, id).await.attempts, 2);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_whose_cancel_was_requested_is_cancelled_instead_of_claimed_once_nothing_runs_it(
    pool: PgPool,
) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    // Its worker died: the lease expires, and the redelivery cancels the job.
    let died = submitted(&store, t, 3).await;
    claimed(&store, died).await;
    store.cancel(t, died).await.expect("request");
    assert!(matches!(
        store.claim(died, GRACE).await.expect("claim"),
        Claim::Busy(_)
    ));
    age_an_hour(&pool, died).await;
    let Claim::Cancelled(job) = store.claim(died, GRACE).await.expect("claim") else {
        panic!("cancelled instead of claimed");
    };
    assert_eq!((job.status, job.attempts), (JobStatus::Cancelled, 1));
    let last = event_details(&store, t, died).await.pop().expect("events");
    assert_eq!(
        last,
        (
            "cancelled".to_owned(),
            Some("cancel requested while running; cancelled instead of running again".to_owned())
        )
    );

    // Its attempt failed after the request: it does not go back to pending.
    let failed = submitted(&store, t, 3).await;
    let job = claimed(&store, failed).await;
    store.cancel(t, failed).await.expect("request");
    let recorded = store
        .record(&job, Outcome::Retryable("HTTP 503".into()))
        .await
        .expect("record");
    assert!(
        matches!(&recorded, Recorded::Cancelled(job) if job.status == JobStatus::Cancelled),
        "{recorded:?}"
    );
    assert_eq!(
        events(&store, t, failed).await,
        [
            "submitted",
            "claimed",
            "cancel_requested",
            "failed_retryable",
            "cancelled"
        ]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_claim_never_runs_a_job_whose_cancel_was_requested(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    for status in JobStatus::ALL {
        for due in [true, false] {
            for lease_expired in [true, false] {
                let state = JobState {
                    status,
                    attempts: 1,
                    max_attempts: 3,
                };
                let id = submitted(&store, t, 3).await;
                force(&pool, id, state, due, lease_expired).await;
                sqlx::query(
                    "update jobs set started_at = coalesce(started_at, now()),
                         cancel_requested_at = now() where id = $1",
                )
                .bind(id)
                .execute(&pool)
                .await
                .expect("request");
                let case = format!("{status} due={due} expired={lease_expired}");
                let claim = store.claim(id, GRACE).await.expect("claim");
                match (status, lease_expired) {
                    (JobStatus::Pending, _) | (JobStatus::Processing, true) => {
                        assert!(matches!(claim, Claim::Cancelled(_)), "{case}: {claim:?}")
                    }
                    (JobStatus::Processing, false) => {
                        assert!(matches!(claim, Claim::Busy(_)), "{case}: {claim:?}")
                    }
                    _ => assert!(matches!(claim, Claim::Finished(_)), "{case}: {claim:?}"),
                }
            }
        }
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_cancel_request_notifies_the_workers_once_when_it_commits(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    claimed(&store, id).await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
        .await
        .expect("listen");
    listener
        .listen("job_cancel_requested")
        .await
        .expect("listen");
    store.cancel(t, id).await.expect("request");
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notice")
        .expect("received");
    assert_eq!(notice.payload(), id.to_string());
    store.cancel(t, id).await.expect("asked again");
    let none = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(none.is_err(), "a second request sends no notice: {none:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn dead_lettering_without_requeues_left_fails_a_live_job_and_leaves_a_finished_one(
    pool: PgPool,
) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = store
        .dead_letter(
            id,
            "dead-letter-1",
            "dead-lettered after 5 deliveries",
            NO_REQUEUE,
        )
        .await
        .expect("dl");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure_reason, Some(FailureReason::DeadLettered));
    assert_eq!(
        job.error.as_deref(),
        Some("dead-lettered after 5 deliveries")
    );
    let again = store
        .dead_letter(id, "dead-letter-2", "again", NO_REQUEUE)
        .await
        .expect("dl");
    assert_eq!(
        again.error.as_deref(),
        Some("dead-lettered after 5 deliveries")
    );
    assert!(matches!(
        store
            .dead_letter(JobId::new(), "dead-letter-3", "x", NO_REQUEUE)
            .await,
        Err(StoreError::NotFound)
    ));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn dead_lettering_spares_a_job_a_live_delivery_still_runs(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    claimed(&store, id).await;
    let job = store
        .dead_letter(id, "dead-letter-4", "busy nacks", NO_REQUEUE)
        .await
        .expect("dl");
    assert_eq!(job.status, JobStatus::Processing);
    age_an_hour(&pool, id).await;
    let job = store
        .dead_letter(id, "dead-letter-5", "holder vanished", NO_REQUEUE)
        .await
        .expect("dl");
    assert_eq!(job.status, JobStatus::Failed);

    let flaky = submitted(&store, t, 10).await;
    let job = claimed(&store, flaky).await;
    store
        .record(&job, Outcome::Retryable("HTTP 503".into()))
        .await
        .expect("record");
    let job = store
        .dead_letter(flaky, "dead-letter-6", "dead-lettered", NO_REQUEUE)
        .await
        .expect("dl");
    assert_eq!(
        job.error.as_deref(),
        Some("dead-lettered; last error: HTTP 503")
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_reconciler_query_finds_unpublished_due_and_expired_jobs(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let grace = Duration::from_secs(60);
    let stale = Duration::from_secs(2 * 3600);
    let due = |store: JobStore| async move {
        store
            .due_for_publish(grace, stale, 100)
            .await
            .expect("due")
            .into_iter()
            .map(|due| due.message.job_id)
            .collect::<HashSet<JobId>>()
    };
    let fresh = submitted(&store, t, 3).await;
    let delayed = NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::minutes(10)),
        ..noop(3)
    };
    let delayed = store.insert(t, delayed).await.expect("insert").job.id;
    let leased = submitted(&store, t, 3).await;
    claimed(&store, leased).await;
    store
        .mark_published(&[(fresh, version(&pool, fresh).await)])
        .await
        .expect("mark");
    // Published, not yet due, and leased: nothing to do.
    assert!(due(store.clone()).await.is_empty());

    for id in [fresh, delayed, leased] {
        age_an_hour(&pool, id).await;
    }
    // The delay came, the lease expired; the published job is not yet stale.
    assert_eq!(due(store.clone()).await, HashSet::from([delayed, leased]));
    let published = [
        (delayed, version(&pool, delayed).await),
        (leased, version(&pool, leased).await),
    ];
    store.mark_published(&published).await.expect("mark");
    assert!(due(store.clone()).await.is_empty());

    // An unpublished job is left to the API during the grace, then found.
    let unpublished = submitted(&store, t, 3).await;
    assert!(due(store.clone()).await.is_empty());
    age_an_hour(&pool, unpublished).await;
    assert_eq!(due(store.clone()).await, HashSet::from([unpublished]));

    // A published pending job untouched for longer than `stale_after` has lost its message.
    let half_an_hour = Duration::from_secs(1800);
    let stale_jobs = store
        .due_for_publish(grace, half_an_hour, 100)
        .await
        .expect("due");
    assert!(stale_jobs.iter().any(|m| m.message.job_id == fresh));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn exactly_one_of_many_concurrent_claims_wins(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let claims = futures::future::join_all((0..24).map(|_| {
        let store = store.clone();
        async move { store.claim(id, GRACE).await.expect("claim") }
    }))
    .await;
    let won = claims
        .iter()
        .filter(|c| matches!(c, Claim::Claimed(_)))
        .count();
    let busy = claims
        .iter()
        .filter(|c| matches!(c, Claim::Busy(_)))
        .count();
    assert_eq!((won, busy), (1, 23));
    assert_eq!(store.get(t, id).await.expect("get").attempts, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn concurrent_submits_with_one_key_store_exactly_one_job(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let results = futures::future::join_all((0..24).map(|_| {
        let store = store.clone();
        async move { store.insert(t, keyed("order-42", 7)).await.expect("insert") }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    let ids: HashSet<JobId> = results.iter().map(|r| r.job.id).collect();
    assert_eq!(ids.len(), 1);
    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_reused_key_with_a_different_request_is_a_conflict(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    store.insert(t, keyed("k", 1)).await.expect("first");
    let err = store.insert(t, keyed("k", 2)).await.expect_err("conflict");
    assert!(matches!(err, StoreError::IdempotencyConflict(key) if key == "k"));
    // Keys are per tenant: another tenant may use the same one.
    let other = tenant(&pool, "globex").await;
    assert!(
        store
            .insert(other, keyed("k", 2))
            .await
            .expect("other")
            .created
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn pagination_neither_skips_nor_repeats_while_jobs_are_inserted(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let mut existing = HashSet::new();
    for _ in 0..60 {
        existing.insert(submitted(&store, t, 3).await);
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..60 {
                store.insert(t, noop(3)).await.expect("insert");
            }
        })
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list(t, &JobFilter::default(), 7, after)
            .await
            .expect("list");
        seen.extend(page.jobs.iter().map(|j| j.id));
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    writer.await.expect("writer");
    let unique: HashSet<JobId> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a row was repeated");
    assert!(existing.is_subset(&unique), "a row was skipped");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "not newest first");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn filters_and_tenants_scope_every_read(pool: PgPool) {
    let store = store(&pool);
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    let mine = submitted(&store, acme, 3).await;
    let cancelled = submitted(&store, acme, 3).await;
    store.cancel(acme, cancelled).await.expect("cancel");
    let sleep = NewJob {
        job_type: "sleep".into(),
        payload: json!({"ms": 1}),
        ..noop(3)
    };
    store.insert(acme, sleep).await.expect("insert");
    submitted(&store, globex, 3).await;

    let by_status = JobFilter {
        status: Some(JobStatus::Cancelled),
        ..JobFilter::default()
    };
    let page = store.list(acme, &by_status, 10, None).await.expect("list");
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [cancelled]
    );
    let by_type = JobFilter {
        job_type: Some("sleep".into()),
        ..JobFilter::default()
    };
    assert_eq!(
        store
            .list(acme, &by_type, 10, None)
            .await
            .expect("list")
            .jobs
            .len(),
        1
    );
    assert_eq!(
        store
            .list(acme, &JobFilter::default(), 10, None)
            .await
            .expect("list")
            .jobs
            .len(),
        3
    );
    assert!(matches!(
        store.get(globex, mine).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.cancel(globex, mine).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.history(globex, mine).await,
        Err(StoreError::NotFound)
    ));
}

/// Puts a job straight into `state`, due or not, with a live or expired lease
/// when processing, bypassing the store as only a test may.
async fn force(pool: &PgPool, id: JobId, state: JobState, due: bool, lease_expired: bool) {
    sqlx::query(
        "update jobs set status = $2, attempts = $3, max_attempts = $4,
             run_at = now() + case when $5 then interval '-1 minute' else interval '1 hour' end,
             lease_expires_at = case when $2 = 'processing' then
                 now() + case when $6 then interval '-1 minute' else interval '1 hour' end end,
             finished_at = case when $2 in ('completed', 'failed', 'cancelled') then now() end,
             failure_reason = case when $2 = 'failed' then 'permanent_error' end
         where id = $1",
    )
    .bind(id)
    .bind(state.status)
    .bind(state.attempts)
    .bind(state.max_attempts)
    .bind(due)
    .bind(lease_expired)
    .execute(pool)
    .await
    .expect("force state");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_claim_statement_claims_exactly_what_the_state_machine_allows(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    for status in JobStatus::ALL {
        for attempts in [1, 3] {
            // The schema keeps a pending job's last attempt unspent.
            if status == JobStatus::Pending && attempts == 3 {
                continue;
            }
            for due in [true, false] {
                for lease_expired in [true, false] {
                    let state = JobState {
                        status,
                        attempts,
                        max_attempts: 3,
                    };
                    let id = submitted(&store, t, 3).await;
                    force(&pool, id, state, due, lease_expired).await;
                    let allowed = match status {
                        JobStatus::Pending => due && state.apply(JobEvent::Claimed).is_ok(),
                        JobStatus::Processing => {
                            lease_expired
                                && state.apply(JobEvent::LeaseExpired).map(|s| s.status)
                                    == Ok(JobStatus::Processing)
                        }
                        _ => false,
                    };
                    let claim = store.claim(id, GRACE).await.expect("claim");
                    let case = format!("{status} {attempts}/3 due={due} expired={lease_expired}");
                    match claim {
                        Claim::Claimed(job) => {
                            assert!(allowed, "{case}: claimed but the state machine refuses");
                            assert_eq!(job.attempts, attempts + 1, "{case}");
                        }
                        other => assert!(!allowed, "{case}: allowed but got {other:?}"),
                    }
                }
            }
        }
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_outcome_decided_on_a_state_that_has_since_changed_writes_nothing(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = claimed(&store, id).await;
    store
        .record(&job, Outcome::Retryable("boom".into()))
        .await
        .expect("record");
    // The same claim's outcome again: the job is pending now, so it is stale.
    let again = store
        .record(&job, Outcome::Succeeded(json!(1)))
        .await
        .expect("record");
    assert_eq!(again, Recorded::Stale);
    let after = store.get(t, id).await.expect("job");
    assert_eq!((after.status, after.result), (JobStatus::Pending, None));
    assert_eq!(
        events(&store, t, id).await,
        ["submitted", "claimed", "failed_retryable"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_broken_invariant_is_refused_by_a_constraint_named_after_it(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let err = sqlx::query("update jobs set status = 'completed' where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .expect_err("a completed job without finished_at");
    let constraint = err
        .as_database_error()
        .and_then(|db| db.constraint())
        .map(str::to_owned);
    assert_eq!(
        constraint.as_deref(),
        Some("jobs_finished_at_set_exactly_when_final")
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_dead_letter_requeues_a_job_with_attempts_left_until_it_keeps_coming_without_progress(
    pool: PgPool,
) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let policy = RequeuePolicy {
        limit: 2,
        delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(600),
    };
    let id = submitted(&store, t, 3).await;
    store
        .mark_published(&[(id, version(&pool, id).await)])
        .await
        .expect("mark");
    let job = store
        .dead_letter(id, "dead-letter-7", "dead-lettered", policy)
        .await
        .expect("dl");
    assert_eq!((job.status, job.attempts), (JobStatus::Pending, 0));
    assert!(job.run_at > chrono::Utc::now() + chrono::Duration::seconds(50));
    let unpublished: bool =
        sqlx::query_scalar("select published_at is null from jobs where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("published_at");
    assert!(
        unpublished,
        "a requeued job is published afresh by the reconciler"
    );

    // A second dead-letter without an attempt in between: requeued once more.
    store
        .dead_letter(id, "dead-letter-8", "dead-lettered", policy)
        .await
        .expect("dl");
    // An attempt runs: that is progress, and the count starts again.
    age_an_hour(&pool, id).await;
    let job = claimed(&store, id).await;
    store
        .record(&job, Outcome::Retryable("HTTP 503".into()))
        .await
        .expect("record");
    for n in 0..2 {
        let job = store
            .dead_letter(id, &format!("dead-letter-9.{n}"), "dead-lettered", policy)
            .await
            .expect("dl");
        assert_eq!(job.status, JobStatus::Pending);
    }
    // The limit reached without progress: failed, with the handler's error kept.
    let job = store
        .dead_letter(id, "dead-letter-10", "dead-lettered", policy)
        .await
        .expect("dl");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure_reason, Some(FailureReason::DeadLettered));
    assert_eq!(
        job.error.as_deref(),
        Some("dead-lettered; last error: HTTP 503")
    );
    assert_eq!(
        events(&store, t, id).await,
        [
            "submitted",
            "requeued",
            "requeued",
            "claimed",
            "failed_retryable",
            "requeued",
            "requeued",
            "dead_lettered"
        ]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_result_jsonb_cannot_hold_is_stored_escaped_and_the_success_stands(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = claimed(&store, id).await;
    let recorded = store
        .record(
            &job,
            Outcome::Succeeded(json!({"body": "{\"a\": \"x\0y\"}"})),
        )
        .await
        .expect("a NUL in the result is no database error");
    let Recorded::Completed(done) = recorded else {
        panic!("expected completed, got {recorded:?}");
    };
    assert_eq!(done.result, Some(json!({"body": "{\"a\": \"x\\u0000y\"}"})));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_retried_job_starts_clean_and_runs_now(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    sqlx::query("update jobs set run_at = now() + interval '1 day' where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .expect("delay");
    store.cancel(t, id).await.expect("cancel");
    let job = claimed_after_retry(&store, t, id).await;
    assert_eq!((job.error, job.failure_reason), (None, None));
    assert!(job.run_at <= chrono::Utc::now());
}

async fn claimed_after_retry(store: &JobStore, t: TenantId, id: JobId) -> Job {
    store.retry(t, id).await.expect("retry")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_late_publish_confirmation_does_not_mark_a_job_that_changed_since(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let published_as = version(&pool, id).await;
    // The message is delivered and the job retried on its own schedule
    // before the confirmation of its publish is written.
    let job = claimed(&store, id).await;
    let delay = Duration::from_secs(2);
    store
        .record(
            &job,
            Outcome::RetryScheduled {
                error: "HTTP 500".into(),
                delay,
            },
        )
        .await
        .expect("record");
    store
        .mark_published(&[(id, published_as)])
        .await
        .expect("mark");
    let unpublished: bool =
        sqlx::query_scalar("select published_at is null from jobs where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("published_at");
    assert!(unpublished, "the retry is still to be published");
}

/// Ends a job as `status` `ago` in the past, bypassing the store as only a test may.
async fn finish_ago(pool: &PgPool, id: JobId, status: JobStatus, ago: &str) {
    sqlx::query(
        "update jobs set status = $2, finished_at = now() - $3::interval,
             failure_reason = case when $2 = 'failed' then 'permanent_error' end
         where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(ago)
    .execute(pool)
    .await
    .expect("finish");
}

async fn exists(pool: &PgPool, id: JobId) -> bool {
    sqlx::query_scalar("select exists (select from jobs where id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("exists")
}

const WEEK_AND_MONTH: jobs_domain::Retention = jobs_domain::Retention {
    completed: Duration::from_secs(7 * 24 * 3600),
    failed: Duration::from_secs(30 * 24 * 3600),
    cancelled: Duration::from_secs(30 * 24 * 3600),
};

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn finished_jobs_past_their_retention_go_with_their_events_and_the_rest_stay(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let types = jobs_domain::JobTypeStore::new(pool.clone());
    let short = json!({"handler": {"builtin": "noop"}, "retention": {"completed_seconds": 60}});
    types.put(t, "short", &short, None).await.expect("type");
    let of_type = |name: &str| NewJob {
        job_type: name.into(),
        ..noop(3)
    };

    let old_completed = submitted(&store, t, 3).await;
    finish_ago(&pool, old_completed, JobStatus::Completed, "8 days").await;
    let recent_completed = submitted(&store, t, 3).await;
    finish_ago(&pool, recent_completed, JobStatus::Completed, "1 day").await;
    let old_failed = submitted(&store, t, 3).await;
    finish_ago(&pool, old_failed, JobStatus::Failed, "8 days").await;
    let pending = submitted(&store, t, 3).await;
    let short_done = store
        .insert(t, of_type("short"))
        .await
        .expect("insert")
        .job
        .id;
    finish_ago(&pool, short_done, JobStatus::Completed, "2 minutes").await;

    let deleted = store
        .delete_expired(WEEK_AND_MONTH, 100)
        .await
        .expect("delete");
    assert_eq!(deleted, 2);
    assert!(!exists(&pool, old_completed).await);
    assert!(!exists(&pool, short_done).await, "the type's own retention");
    for kept in [recent_completed, old_failed, pending] {
        assert!(exists(&pool, kept).await);
    }
    let orphans: i64 = sqlx::query_scalar(
        "select count(*) from job_events e where not exists (select from jobs j where j.id = e.job_id)",
    )
    .fetch_one(&pool)
    .await
    .expect("events");
    assert_eq!(orphans, 0, "events go with their jobs");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn deleting_expired_jobs_skips_rows_others_hold_and_is_bounded(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let mut old = Vec::new();
    for _ in 0..3 {
        let id = submitted(&store, t, 3).await;
        finish_ago(&pool, id, JobStatus::Cancelled, "60 days").await;
        old.push(id);
    }
    // Another transaction holds the oldest row: the delete must not wait for it.
    let mut holder = pool.begin().await.expect("begin");
    sqlx::query("select 1 from jobs where id = $1 for update")
        .bind(old[0])
        .execute(&mut *holder)
        .await
        .expect("lock");
    let deleted = store
        .delete_expired(WEEK_AND_MONTH, 1)
        .await
        .expect("delete");
    assert_eq!(deleted, 1, "one batch of one");
    let deleted = store
        .delete_expired(WEEK_AND_MONTH, 100)
        .await
        .expect("delete");
    assert_eq!(deleted, 1, "the held row is skipped, the rest goes");
    assert!(exists(&pool, old[0]).await);
    holder.rollback().await.expect("release");
    assert_eq!(
        store
            .delete_expired(WEEK_AND_MONTH, 100)
            .await
            .expect("delete"),
        1
    );
}

fn per_user(limit: u32, period_seconds: u32) -> jobs_domain::RateLimit {
    jobs_domain::RateLimit {
        key: Some(jobs_domain::PayloadKey::parse("/user_id").expect("pointer")),
        limit,
        period_seconds,
        when_exceeded: jobs_domain::WhenExceeded::Reject,
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_rate_limit_counts_per_key_and_frees_a_slot_when_its_window_ends(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let limit = per_user(2, 3600);
    for _ in 0..2 {
        store
            .insert_rate_limited(t, noop(3), &limit, "u1")
            .await
            .expect("admitted");
    }
    let refused = store.insert_rate_limited(t, noop(3), &limit, "u1").await;
    assert!(
        matches!(refused, Err(StoreError::RateLimited { retry_after }) if retry_after.as_secs() > 3590),
        "{refused:?}"
    );
    store
        .insert_rate_limited(t, noop(3), &limit, "u2")
        .await
        .expect("another key has its own window");

    // The oldest slot's window ends: one more is admitted, and only one.
    sqlx::query(
        "update rate_limit_slots set slot_at = slot_at - interval '2 hours',
                                     expires_at = expires_at - interval '2 hours'
         where key = 'u1' and slot_at = (select min(slot_at) from rate_limit_slots where key = 'u1')",
    )
    .execute(&pool)
    .await
    .expect("age a slot");
    store
        .insert_rate_limited(t, noop(3), &limit, "u1")
        .await
        .expect("a slot freed");
    assert!(
        store
            .insert_rate_limited(t, noop(3), &limit, "u1")
            .await
            .is_err()
    );

    assert_eq!(store.delete_expired_slots(100).await.expect("delete"), 1);
    let left: i64 = sqlx::query_scalar("select count(*) from rate_limit_slots")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 3, "two of u1 in the window, one of u2");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn concurrent_copies_of_one_dead_letter_count_once(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let policy = RequeuePolicy {
        limit: 1,
        delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(1),
    };

    let copies = (0..8).map(|_| store.dead_letter(id, "dead-letter-42", "dead-lettered", policy));
    for job in futures::future::join_all(copies).await {
        assert_eq!(job.expect("dead-letter").status, JobStatus::Pending);
    }

    // A second, distinct dead-letter is counted: past the limit of 1, failed.
    let job = store
        .dead_letter(id, "dead-letter-43", "dead-lettered", policy)
        .await
        .expect("dead-letter");
    assert_eq!(job.status, JobStatus::Failed);
    let requeues: i64 = sqlx::query_scalar(
        "select count(*) from job_events where job_id = $1 and event = 'requeued'",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(requeues, 1);
}

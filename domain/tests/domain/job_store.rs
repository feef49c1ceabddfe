//! The job store against a real PostgreSQL: one fresh database per test.

use jobs_domain::api_keys::create_key;
use jobs_domain::{
    Claim, Idempotency, JobEvent, JobFilter, JobId, JobStatus, JobStore, NewJob, Outcome, Recorded,
    StoreError, TenantId,
};
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashSet;
use std::time::Duration;

const GRACE: Duration = Duration::from_secs(30);

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

async fn claimed_attempt(store: &JobStore, id: JobId) -> i32 {
    match store.claim(id, GRACE).await.expect("claim") {
        Claim::Claimed(job) => job.attempts,
        other => panic!("expected a claim, got {other:?}"),
    }
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
    assert_eq!(claimed_attempt(&store, id).await, 1);
    let recorded = store
        .record(id, 1, Outcome::Succeeded(json!({"ok": true})))
        .await
        .expect("record");
    let Recorded::Saved(job) = recorded else {
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
        assert_eq!(claimed_attempt(&store, id).await, attempt);
        store
            .record(id, attempt, Outcome::Retryable(format!("boom {attempt}")))
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
    claimed_attempt(&store, id).await;
    store
        .record(id, 1, Outcome::Permanent("bad request".into()))
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
    claimed_attempt(&store, id).await;
    assert!(matches!(
        store.claim(id, GRACE).await.expect("claim"),
        Claim::Busy(_)
    ));
    store
        .record(id, 1, Outcome::Succeeded(json!(null)))
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
    claimed_attempt(&store, id).await;
    age_an_hour(&pool, id).await;
    assert_eq!(claimed_attempt(&store, id).await, 2);
    let stale = store
        .record(id, 1, Outcome::Succeeded(json!("late")))
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
    claimed_attempt(&store, id).await;
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

    claimed_attempt(&store, id).await;
    let err = store
        .cancel(t, id)
        .await
        .expect_err("cancel while processing");
    assert!(matches!(err, StoreError::Transition(e) if e.from == JobStatus::Processing));
    store
        .record(id, 1, Outcome::Succeeded(json!(1)))
        .await
        .expect("record");
    assert!(matches!(
        store.retry(t, id).await,
        Err(StoreError::Transition(_))
    ));
    assert_eq!(
        events(&store, t, id).await,
        ["submitted", "cancelled", "retried", "claimed", "succeeded"]
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn dead_lettering_fails_a_live_job_and_leaves_a_finished_one(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    let job = store
        .dead_letter(id, "dead-lettered after 5 deliveries")
        .await
        .expect("dl");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(
        job.error.as_deref(),
        Some("dead-lettered after 5 deliveries")
    );
    let again = store.dead_letter(id, "again").await.expect("dl");
    assert_eq!(
        again.error.as_deref(),
        Some("dead-lettered after 5 deliveries")
    );
    assert!(matches!(
        store.dead_letter(JobId::new(), "x").await,
        Err(StoreError::NotFound)
    ));
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn dead_lettering_spares_a_job_a_live_delivery_still_runs(pool: PgPool) {
    let store = store(&pool);
    let t = tenant(&pool, "acme").await;
    let id = submitted(&store, t, 3).await;
    claimed_attempt(&store, id).await;
    let job = store.dead_letter(id, "busy nacks").await.expect("dl");
    assert_eq!(job.status, JobStatus::Processing);
    age_an_hour(&pool, id).await;
    let job = store.dead_letter(id, "holder vanished").await.expect("dl");
    assert_eq!(job.status, JobStatus::Failed);

    let flaky = submitted(&store, t, 10).await;
    claimed_attempt(&store, flaky).await;
    store
        .record(flaky, 1, Outcome::Retryable("HTTP 503".into()))
        .await
        .expect("record");
    let job = store.dead_letter(flaky, "dead-lettered").await.expect("dl");
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
            .map(|m| m.job_id)
            .collect::<HashSet<JobId>>()
    };
    let fresh = submitted(&store, t, 3).await;
    let delayed = NewJob {
        run_at: Some(chrono::Utc::now() + chrono::Duration::minutes(10)),
        ..noop(3)
    };
    let delayed = store.insert(t, delayed).await.expect("insert").job.id;
    let leased = submitted(&store, t, 3).await;
    claimed_attempt(&store, leased).await;
    store.mark_published(&[fresh]).await.expect("mark");
    // Published, not yet due, and leased: nothing to do.
    assert!(due(store.clone()).await.is_empty());

    for id in [fresh, delayed, leased] {
        age_an_hour(&pool, id).await;
    }
    // The delay came, the lease expired; the published job is not yet stale.
    assert_eq!(due(store.clone()).await, HashSet::from([delayed, leased]));
    store
        .mark_published(&[delayed, leased])
        .await
        .expect("mark");
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
    assert!(stale_jobs.iter().any(|m| m.job_id == fresh));
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

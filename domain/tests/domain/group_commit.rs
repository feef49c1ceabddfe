//! Group commit against a real PostgreSQL: concurrent submits, claims and
//! outcomes share statements, and each call is still answered as if it had
//! been written alone.

use futures::future::join_all;
use jobs_domain::api_keys::create_key;
use jobs_domain::{
    Claim, GroupCommit, Idempotency, Job, JobId, JobStore, NewJob, Outcome, Recorded, StoreError,
    TenantId,
};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

fn grouped(pool: &PgPool) -> JobStore {
    JobStore::new(pool.clone()).group_commit(GroupCommit {
        max_batch: 64,
        window: Duration::from_millis(20),
        in_flight: 2,
    })
}

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    create_key(pool, name).await.expect("create tenant").tenant
}

fn noop(n: i32) -> NewJob {
    NewJob {
        job_type: "noop".into(),
        payload: json!({ "n": n }),
        max_attempts: 3,
        timeout_seconds: 30,
        run_at: None,
        idempotency: None,
        callback_url: None,
        concurrency_key: None,
    }
}

fn keyed(n: i32, key: &str, hash: u8) -> NewJob {
    NewJob {
        idempotency: Some(Idempotency {
            key: key.into(),
            request_hash: vec![hash; 32],
        }),
        ..noop(n)
    }
}

/// Counts the statements that insert into or update `jobs`.
async fn count_statements(pool: &PgPool) {
    for statement in [
        "create table statements (op text not null)",
        "create function count_statement() returns trigger language plpgsql as $$
         begin insert into statements values (tg_op); return null; end $$",
        "create trigger count_job_statements after insert or update on jobs
         for each statement execute function count_statement()",
    ] {
        sqlx::query(statement).execute(pool).await.expect("counter");
    }
}

async fn statements(pool: &PgPool, op: &str) -> i64 {
    sqlx::query_scalar("select count(*) from statements where op = $1")
        .bind(op)
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn event_names(pool: &PgPool, id: JobId) -> Vec<String> {
    sqlx::query_scalar("select event from job_events where job_id = $1 order by id")
        .bind(id)
        .fetch_all(pool)
        .await
        .expect("events")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn concurrent_submits_share_statements_and_keys_behave_as_if_sequential(pool: PgPool) {
    let store = grouped(&pool);
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    count_statements(&pool).await;
    // 100 plain submits of two tenants, and under one key of acme's three
    // submits of the same request and one of another.
    let mut calls: Vec<(TenantId, NewJob)> = (0..100)
        .map(|n| (if n % 2 == 0 { acme } else { globex }, noop(n)))
        .collect();
    calls.insert(10, (acme, keyed(1000, "order-7", 1)));
    calls.insert(40, (acme, keyed(1000, "order-7", 1)));
    calls.insert(70, (acme, keyed(1001, "order-7", 2)));
    calls.push((globex, keyed(1002, "order-7", 3)));
    let answers = join_all(
        calls
            .into_iter()
            .map(|(tenant, new)| store.insert(tenant, new)),
    )
    .await;

    let mut created = 0;
    let mut keyed_answers = Vec::new();
    for answer in &answers {
        match answer {
            Ok(submitted) if submitted.job.idempotency_key.is_some() => {
                keyed_answers.push((submitted.job.tenant, submitted.job.id, submitted.created));
            }
            Ok(submitted) => {
                assert!(submitted.created);
                created += 1;
            }
            Err(StoreError::IdempotencyConflict(key)) => assert_eq!(key, "order-7"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 100);
    // acme: the first stores, the same request replays it, the other conflicts;
    // globex's key is its own.
    let acme_keyed: Vec<_> = keyed_answers.iter().filter(|(t, ..)| *t == acme).collect();
    assert_eq!(acme_keyed.len(), 2);
    assert_eq!(acme_keyed[0].1, acme_keyed[1].1);
    assert_eq!(
        acme_keyed.iter().filter(|(.., created)| *created).count(),
        1
    );
    assert!(matches!(
        answers[70],
        Err(StoreError::IdempotencyConflict(_))
    ));
    assert!(
        keyed_answers
            .iter()
            .any(|(t, _, created)| *t == globex && *created)
    );

    let stored: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 102);
    let inserts = statements(&pool, "INSERT").await;
    assert!(
        inserts < 20,
        "104 concurrent submits took {inserts} insert statements"
    );
    for answer in answers.iter().flatten() {
        assert_eq!(event_names(&pool, answer.job.id).await, ["submitted"]);
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_bad_row_fails_only_its_own_submit_and_its_batch_neighbours_are_stored(pool: PgPool) {
    let store = grouped(&pool);
    let acme = tenant(&pool, "acme").await;
    // max_attempts 0 breaks the schema's CHECK constraint: the API never
    // sends it, so it stands for any row the database refuses.
    let mut calls: Vec<NewJob> = (0..20).map(noop).collect();
    calls[7].max_attempts = 0;
    let answers = join_all(calls.into_iter().map(|new| store.insert(acme, new))).await;
    for (index, answer) in answers.iter().enumerate() {
        match (index, answer) {
            (7, Err(StoreError::Database(_))) => {}
            (7, other) => panic!("the bad row was answered {other:?}"),
            (_, Ok(submitted)) => assert!(submitted.created),
            (_, Err(err)) => panic!("a good row failed: {err}"),
        }
    }
    let stored: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 19);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn concurrent_claims_share_statements_and_each_job_has_exactly_one_winner(pool: PgPool) {
    let store = grouped(&pool);
    let acme = tenant(&pool, "acme").await;
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(store.insert(acme, noop(n)).await.expect("insert").job.id);
    }
    count_statements(&pool).await;
    // Every job claimed by three deliveries at once.
    let claims = join_all(
        ids.iter()
            .chain(ids.iter())
            .chain(ids.iter())
            .map(|id| store.claim(*id, LEASE)),
    )
    .await;
    for id in &ids {
        let mine: Vec<&Claim> = claims
            .iter()
            .map(|claim| claim.as_ref().expect("claim"))
            .filter(|claim| match claim {
                Claim::Claimed(job) | Claim::Busy(job) => job.id == *id,
                _ => false,
            })
            .collect();
        assert_eq!(mine.len(), 3, "every delivery of {id:?} was answered");
        assert_eq!(
            mine.iter()
                .filter(|claim| matches!(claim, Claim::Claimed(_)))
                .count(),
            1,
            "exactly one delivery of {id:?} won"
        );
        assert_eq!(event_names(&pool, *id).await, ["submitted", "claimed"]);
    }
    let updates = statements(&pool, "UPDATE").await;
    assert!(
        updates < 60,
        "120 concurrent claims took {updates} statements"
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn outcomes_written_together_keep_their_guards_and_a_stale_one_is_dropped(pool: PgPool) {
    let store = grouped(&pool);
    let acme = tenant(&pool, "acme").await;
    let mut claimed: Vec<Job> = Vec::new();
    for n in 0..30 {
        let id = store.insert(acme, noop(n)).await.expect("insert").job.id;
        match store.claim(id, LEASE).await.expect("claim") {
            Claim::Claimed(job) => claimed.push(job),
            other => panic!("expected a claim, got {other:?}"),
        }
    }
    // The first job's lease expires and another delivery claims it again:
    // the first delivery's outcome is stale.
    let first = claimed[0].clone();
    sqlx::query("update jobs set lease_expires_at = now() - interval '1 second' where id = $1")
        .bind(first.id)
        .execute(&pool)
        .await
        .expect("expire");
    let again = match store.claim(first.id, LEASE).await.expect("claim") {
        Claim::Claimed(job) => job,
        other => panic!("expected a second claim, got {other:?}"),
    };
    count_statements(&pool).await;
    let mut outcomes: Vec<(Job, Outcome)> = claimed
        .iter()
        .map(|job| (job.clone(), Outcome::Succeeded(json!({ "id": job.id }))))
        .collect();
    outcomes.push((again.clone(), Outcome::Succeeded(json!("second"))));
    let recorded = join_all(
        outcomes
            .iter()
            .map(|(job, outcome)| store.record(job, outcome.clone())),
    )
    .await;
    assert_eq!(recorded[0].as_ref().expect("record"), &Recorded::Stale);
    for answer in &recorded[1..] {
        assert!(
            matches!(answer.as_ref().expect("record"), Recorded::Completed(_)),
            "{answer:?}"
        );
    }
    assert_eq!(
        event_names(&pool, first.id).await,
        ["submitted", "claimed", "lease_expired", "succeeded"]
    );
    for job in &claimed[1..] {
        assert_eq!(
            event_names(&pool, job.id).await,
            ["submitted", "claimed", "succeeded"]
        );
    }
    let updates = statements(&pool, "UPDATE").await;
    assert!(
        updates < 20,
        "31 concurrent outcomes took {updates} statements"
    );
}

//! The dashboard's numbers (`JobStore::stats`) against a real PostgreSQL.

use chrono::{Duration as Minutes, Utc};
use jobs_domain::api_keys::create_key;
use jobs_domain::job_stats::{THROUGHPUT_MINUTES, THROUGHPUT_QUERY};
use jobs_domain::{Claim, JobId, JobStore, NewJob, Outcome, StatusCounts, TenantId};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    create_key(pool, name).await.expect("create tenant").tenant
}

fn job(job_type: &str) -> NewJob {
    NewJob {
        job_type: job_type.into(),
        payload: json!({}),
        max_attempts: 1,
        timeout_seconds: 30,
        run_at: None,
        idempotency: None,
        callback_url: None,
        concurrency_key: None,
    }
}

async fn submitted(store: &JobStore, tenant: TenantId, new: NewJob) -> JobId {
    store.insert(tenant, new).await.expect("insert").job.id
}

/// Submits a job and runs it to `outcome`.
async fn finished(store: &JobStore, tenant: TenantId, job_type: &str, outcome: Outcome) -> JobId {
    let id = submitted(store, tenant, job(job_type)).await;
    let Claim::Claimed(claimed) = store.claim(id, LEASE).await.expect("claim") else {
        panic!("{id} was not claimed");
    };
    store.record(&claimed, outcome).await.expect("record");
    id
}

/// Moves a finished job's start and finish `minutes` into the past.
async fn finished_ago(pool: &PgPool, id: JobId, minutes: i32) {
    sqlx::query(
        "update jobs set started_at = now() - make_interval(mins => $2),
                         finished_at = now() - make_interval(mins => $2)
         where id = $1",
    )
    .bind(id)
    .bind(minutes)
    .execute(pool)
    .await
    .expect("moved back");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn stats_count_one_tenants_jobs_by_status_type_and_finish_minute(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;

    let first_pending = submitted(&store, acme, job("noop")).await;
    submitted(&store, acme, job("noop")).await;
    let delayed = NewJob {
        run_at: Some(Utc::now() + Minutes::hours(1)),
        ..job("sleep")
    };
    submitted(&store, acme, delayed).await;
    finished(&store, acme, "noop", Outcome::Succeeded(json!({}))).await;
    finished(&store, acme, "http", Outcome::Permanent("404".into())).await;
    let half_hour_ago = finished(&store, acme, "noop", Outcome::Succeeded(json!({}))).await;
    finished_ago(&pool, half_hour_ago, 30).await;
    let two_hours_ago = finished(&store, acme, "noop", Outcome::Succeeded(json!({}))).await;
    finished_ago(&pool, two_hours_ago, 120).await;
    // Another tenant's jobs, pending and finished, count for it alone.
    submitted(&store, globex, job("noop")).await;
    finished(&store, globex, "noop", Outcome::Succeeded(json!({}))).await;

    let stats = store.stats(acme).await.expect("stats");
    assert_eq!(
        stats.by_status,
        StatusCounts {
            pending: 3,
            completed: 3,
            failed: 1,
            ..StatusCounts::default()
        }
    );
    let by_type: Vec<(&str, StatusCounts)> = stats
        .by_type
        .iter()
        .map(|counts| (counts.job_type.as_str(), counts.counts))
        .collect();
    assert_eq!(
        by_type,
        [
            (
                "http",
                StatusCounts {
                    failed: 1,
                    ..StatusCounts::default()
                }
            ),
            (
                "noop",
                StatusCounts {
                    pending: 2,
                    completed: 3,
                    ..StatusCounts::default()
                }
            ),
            (
                "sleep",
                StatusCounts {
                    pending: 1,
                    ..StatusCounts::default()
                }
            ),
        ]
    );

    assert_eq!(stats.per_minute.len(), 60);
    let minutes: Vec<_> = stats.per_minute.iter().map(|m| m.minute).collect();
    assert!(
        minutes
            .windows(2)
            .all(|w| w[1] - w[0] == Minutes::minutes(1))
    );
    let now = stats.per_minute.last().expect("the current minute");
    assert!(now.minute <= stats.as_of && stats.as_of - now.minute < Minutes::minutes(1));
    assert_eq!((now.completed, now.failed), (1, 1));
    let then = &stats.per_minute[59 - 30];
    assert_eq!(
        (then.completed, then.failed),
        (1, 0),
        "{:?}",
        stats.per_minute
    );
    let finished: i64 = stats
        .per_minute
        .iter()
        .map(|m| m.completed + m.failed)
        .sum();
    assert_eq!(finished, 3, "two hours ago is outside the hour");

    let oldest = stats.oldest_pending.expect("a job waits");
    assert_eq!(
        oldest.id, first_pending,
        "neither the delayed job nor globex's"
    );
    assert!(
        (0..60).contains(&oldest.age_seconds),
        "{}",
        oldest.age_seconds
    );
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_tenant_without_jobs_has_zero_counts_and_an_empty_hour(pool: PgPool) {
    let store = JobStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    let stats = store.stats(acme).await.expect("stats");
    assert_eq!(stats.by_status, StatusCounts::default());
    assert!(stats.by_type.is_empty());
    assert_eq!(stats.per_minute.len(), 60);
    assert!(
        stats
            .per_minute
            .iter()
            .all(|m| m.completed == 0 && m.failed == 0)
    );
    assert_eq!(stats.oldest_pending, None);
}

/// The throughput read stays on the tenant's finished jobs of the hour: an
/// index range scan, never a scan of every job.
#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_per_minute_counts_read_the_tenant_finished_at_index(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    // Two tenants' two weeks of finished jobs, one a minute each: the hour is a sliver.
    for owner in [acme, globex] {
        sqlx::query(
            "insert into jobs (id, tenant_id, type, status, payload, attempts, max_attempts,
                           timeout_seconds, run_at, created_at, updated_at, started_at, finished_at)
         select gen_random_uuid(), $1, 'noop', 'completed', '{}', 1, 1, 30,
                now() - make_interval(mins => n), now() - make_interval(mins => n),
                now() - make_interval(mins => n), now() - make_interval(mins => n),
                now() - make_interval(mins => n)
         from generate_series(1, 20000) as n",
        )
        .bind(owner)
        .execute(&pool)
        .await
        .expect("many finished jobs");
    }
    sqlx::query("analyze jobs")
        .execute(&pool)
        .await
        .expect("analyze");
    let plan: Vec<String> = sqlx::query_scalar(&format!("explain {THROUGHPUT_QUERY}"))
        .bind(acme)
        .bind(THROUGHPUT_MINUTES)
        .fetch_all(&pool)
        .await
        .expect("explain");
    let plan = plan.join("\n");
    assert!(plan.contains("jobs_tenant_finished_at"), "{plan}");
    assert!(!plan.contains("Seq Scan"), "{plan}");
}

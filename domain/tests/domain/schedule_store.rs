//! The schedule store against a real PostgreSQL: enqueueing occurrences once.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use jobs_domain::api_keys::create_key;
use jobs_domain::schedule::slot_key;
use jobs_domain::{
    Enqueued, JobFilter, JobStore, Occurrence, ScheduleStore, ScheduledJob, TenantId,
};
use serde_json::json;
use sqlx::PgPool;

async fn tenant(pool: &PgPool, name: &str) -> TenantId {
    create_key(pool, name).await.expect("create tenant").tenant
}

fn noop() -> ScheduledJob {
    ScheduledJob {
        job_type: "noop".into(),
        payload: json!({"report": "daily"}),
        max_attempts: 3,
        timeout_seconds: 30,
    }
}

/// A whole second some seconds ago, as a due occurrence would be.
fn seconds_ago(seconds: i64) -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0) - Duration::seconds(seconds)
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_occurrence_is_enqueued_once_even_when_a_new_leader_repeats_its_slot(pool: PgPool) {
    let store = ScheduleStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    let slot = seconds_ago(2);
    store
        .put(
            acme,
            "every-second",
            "* * * * * *",
            "UTC",
            &noop(),
            false,
            Some(slot),
        )
        .await
        .expect("put");
    let due = store.due(10).await.expect("due");
    assert_eq!(due.len(), 1);
    let next = slot + Duration::seconds(3);
    let occurrence = Occurrence {
        slot,
        next: Some(next),
    };

    let Enqueued::Created(job) = store.enqueue(&due[0], occurrence).await.expect("enqueue") else {
        panic!("the first enqueue stores the job");
    };
    assert_eq!(job.schedule.as_deref(), Some("every-second"));
    assert_eq!(job.idempotency_key, Some(slot_key("every-second", slot)));
    assert_eq!((job.run_at, job.max_attempts), (slot, 3));
    let schedule = store
        .get(acme, "every-second")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (
            schedule.next_run_at,
            schedule.last_run_at,
            schedule.last_job_id
        ),
        (Some(next), Some(slot), Some(job.id))
    );

    // The leader stored the job and died before moving the schedule on.
    sqlx::query("update schedules set next_run_at = $1, last_job_id = null")
        .bind(slot)
        .execute(&pool)
        .await
        .expect("rewind");
    let due = store.due(10).await.expect("due");
    assert_eq!(
        store.enqueue(&due[0], occurrence).await.expect("enqueue"),
        Enqueued::AlreadyEnqueued
    );
    let schedule = store
        .get(acme, "every-second")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(schedule.last_job_id, Some(job.id));
    assert_eq!(schedule.next_run_at, Some(next));
    let filter = JobFilter {
        schedule: Some("every-second".into()),
        ..JobFilter::default()
    };
    let jobs = JobStore::new(pool.clone())
        .list(acme, &filter, 10, None)
        .await
        .expect("list");
    assert_eq!(jobs.jobs.len(), 1);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_enqueue_for_a_schedule_changed_since_it_was_read_writes_nothing(pool: PgPool) {
    let store = ScheduleStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    let slot = seconds_ago(1);
    store
        .put(
            acme,
            "nightly",
            "0 2 * * *",
            "UTC",
            &noop(),
            false,
            Some(slot),
        )
        .await
        .expect("put");
    let due = store.due(10).await.expect("due");
    store.pause(acme, "nightly").await.expect("pause");
    let occurrence = Occurrence {
        slot,
        next: Some(slot + Duration::days(1)),
    };
    assert_eq!(
        store.enqueue(&due[0], occurrence).await.expect("enqueue"),
        Enqueued::Changed
    );
    let count: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn only_active_due_schedules_are_read_and_the_earliest_next_run_says_when_to_wake(
    pool: PgPool,
) {
    let store = ScheduleStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    assert_eq!(store.next_due_in().await.expect("wake"), None);
    let in_an_hour = Utc::now() + Duration::hours(1);
    for (name, paused, next) in [
        ("later", false, Some(in_an_hour)),
        ("due", false, Some(seconds_ago(5))),
        ("paused", true, None),
    ] {
        store
            .put(acme, name, "0 * * * *", "UTC", &noop(), paused, next)
            .await
            .expect("put");
    }
    let due: Vec<String> = store
        .due(10)
        .await
        .expect("due")
        .into_iter()
        .map(|due| due.name)
        .collect();
    assert_eq!(due, ["due"]);
    assert_eq!(
        store.next_due_in().await.expect("wake"),
        Some(std::time::Duration::ZERO)
    );
    store.delete(acme, "due").await.expect("delete");
    let wake = store
        .next_due_in()
        .await
        .expect("wake")
        .expect("one is active");
    assert!(wake > std::time::Duration::from_secs(3500), "{wake:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn an_active_schedule_without_a_next_run_is_refused_by_the_schema(pool: PgPool) {
    let store = ScheduleStore::new(pool.clone());
    let acme = tenant(&pool, "acme").await;
    let refused = store
        .put(acme, "broken", "0 * * * *", "UTC", &noop(), false, None)
        .await
        .expect_err("must be refused");
    assert!(
        refused
            .to_string()
            .contains("schedules_next_run_at_set_exactly_while_active"),
        "{refused}"
    );
}

use crate::harness::{GUARD, Stack};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;

const JOBS: usize = 5_000;
const SUBMITTERS: usize = 32;

/// What each kind of job must end as: (status, attempts).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Noop,
    Sleep,
    Ok,
    FlakyOnce,
    Missing,
    AlwaysFails,
}

impl Kind {
    fn of(i: usize) -> Kind {
        [
            Kind::Noop,
            Kind::Sleep,
            Kind::Ok,
            Kind::FlakyOnce,
            Kind::Missing,
            Kind::AlwaysFails,
        ][i % 6]
    }

    fn body(self, stack: &Stack, i: usize) -> Value {
        let url = |path: String| format!("{}{path}", stack.target.url);
        match self {
            Kind::Noop => json!({"type": "noop", "payload": {"i": i}}),
            Kind::Sleep => json!({"type": "sleep", "payload": {"ms": 5}}),
            Kind::Ok => json!({"type": "http", "payload": {"url": url(format!("/ok/{i}"))}}),
            Kind::FlakyOnce => {
                json!({"type": "http", "payload": {"url": url(format!("/flaky/1/{i}"))}})
            }
            Kind::Missing => {
                json!({"type": "http", "payload": {"url": url(format!("/missing/{i}"))}})
            }
            Kind::AlwaysFails => {
                json!({"type": "http", "payload": {"url": url(format!("/fail/{i}"))}, "max_attempts": 2})
            }
        }
    }

    fn expected(self) -> (&'static str, i32) {
        match self {
            Kind::Noop | Kind::Sleep | Kind::Ok => ("completed", 1),
            Kind::FlakyOnce => ("completed", 2),
            Kind::Missing => ("failed", 1),
            Kind::AlwaysFails => ("failed", 2),
        }
    }

    fn path(self, i: usize) -> Option<String> {
        match self {
            Kind::Noop | Kind::Sleep => None,
            Kind::Ok => Some(format!("/ok/{i}")),
            Kind::FlakyOnce => Some(format!("/flaky/1/{i}")),
            Kind::Missing => Some(format!("/missing/{i}")),
            Kind::AlwaysFails => Some(format!("/fail/{i}")),
        }
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn five_thousand_mixed_jobs_end_in_the_states_their_handlers_dictate(pool: PgPool) {
    let stack = Stack::start(pool.clone()).await;
    let ids: Vec<(usize, String)> = futures::stream::iter(0..JOBS)
        .map(|i| {
            let stack = &stack;
            async move { (i, stack.submit(&Kind::of(i).body(stack, i)).await) }
        })
        .buffer_unordered(SUBMITTERS)
        .collect()
        .await;

    tokio::time::timeout(GUARD * 4, async {
        loop {
            let open: i64 = sqlx::query_scalar(
                "select count(*) from jobs where status in ('pending', 'processing')",
            )
            .fetch_one(&pool)
            .await
            .expect("count");
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("every job reaches a terminal state");

    let rows: Vec<(uuid::Uuid, String, i32)> =
        sqlx::query_as("select id, status, attempts from jobs")
            .fetch_all(&pool)
            .await
            .expect("jobs");
    let stored: HashMap<String, (String, i32)> = rows
        .into_iter()
        .map(|(id, status, attempts)| (id.to_string(), (status, attempts)))
        .collect();
    assert_eq!(stored.len(), JOBS);
    for (i, id) in &ids {
        let kind = Kind::of(*i);
        let (status, attempts) = &stored[id];
        let (want_status, want_attempts) = kind.expected();
        assert_eq!(
            (status.as_str(), *attempts),
            (want_status, want_attempts),
            "job {i} ({kind:?})"
        );
        if let Some(path) = kind.path(*i) {
            let hits = u32::try_from(want_attempts).expect("small");
            assert_eq!(
                stack.target.hits(&path),
                hits,
                "job {i} ({kind:?}) ran a wrong number of times"
            );
        }
    }

    // No job succeeded twice, and the history agrees with every row.
    let twice: i64 = sqlx::query_scalar(
        "select count(*) from (select job_id from job_events where event = 'succeeded'
                               group by job_id having count(*) > 1) doubled",
    )
    .fetch_one(&pool)
    .await
    .expect("double runs");
    assert_eq!(twice, 0, "a job completed twice");
    let disagreeing: i64 = sqlx::query_scalar(
        "select count(*) from jobs j
         where j.status <> (select e.to_status from job_events e where e.job_id = j.id
                            order by e.id desc limit 1)
            or j.attempts <> (select count(*) from job_events e where e.job_id = j.id
                              and e.event in ('claimed', 'lease_expired') and e.to_status = 'processing')
            or (select e.event from job_events e where e.job_id = j.id order by e.id limit 1) <> 'submitted'",
    )
    .fetch_one(&pool)
    .await
    .expect("history check");
    assert_eq!(disagreeing, 0, "job_events disagrees with jobs");
}

//! The database drops connections under load, as a Cloud SQL failover or
//! maintenance does (`pg_terminate_backend`, SQLSTATE 57P01): submits answer
//! 202 or 503 with `Retry-After`, never 500, and the API serves again once
//! the pool has replaced its connections.

use crate::helpers::{assert_problem, noop, pubsub_settings, serve, spawn_app};
use futures::StreamExt;
use jobs_runtime::settings::DatabaseSettings;
use reqwest::Client;
use sqlx::{Connection, PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SUBMITS: usize = 200;
const SUBMITTERS: usize = 16;
/// Upper bound on the whole test; reaching it is a failure, never a pass.
const GUARD: Duration = Duration::from_secs(120);

/// Terminates every other backend of the test database, over and over, until
/// `stop`; returns how many it terminated.
async fn terminate_until(mut conn: PgConnection, stop: Arc<AtomicBool>) -> i64 {
    let mut terminated = 0;
    while !stop.load(Ordering::Relaxed) {
        let round: i64 = sqlx::query_scalar(
            "select count(*) from (
                 select pg_terminate_backend(pid) as done from pg_stat_activity
                 where datname = current_database() and pid <> pg_backend_pid()
             ) killed where done",
        )
        .fetch_one(&mut conn)
        .await
        .expect("terminate the test database's backends");
        terminated += round;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    conn.close().await.ok();
    terminated
}

/// Submits a noop under the idempotency key `key`.
async fn submit(client: &Client, api: &str, api_key: &str, key: &str) -> reqwest::Response {
    client
        .post(format!("{api}/v1/jobs"))
        .bearer_auth(api_key)
        .header("idempotency-key", key)
        .json(&noop())
        .send()
        .await
        .expect("the API answers")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn submits_while_the_database_terminates_connections_get_202_or_503_never_500(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    // The production pool, not the test's: its replacing of dead connections is under test.
    let settings = DatabaseSettings {
        url: (*pool.connect_options()).clone(),
        max_connections: 5,
        acquire_timeout: Duration::from_secs(5),
    };
    let production = settings.pool();
    let api = serve(production.clone(), &pubsub_settings(&app.emulator.host())).await;

    let stop = Arc::new(AtomicBool::new(false));
    let terminator = PgConnection::connect_with(&pool.connect_options())
        .await
        .expect("the terminator connects");
    let terminator = tokio::spawn(terminate_until(terminator, Arc::clone(&stop)));

    let answers: Vec<(usize, u16, reqwest::Response)> = tokio::time::timeout(GUARD, async {
        futures::stream::iter(0..SUBMITS)
            .map(|i| {
                let (client, api, api_key) = (&app.client, &api, &app.api_key);
                async move {
                    let response = submit(client, api, api_key, &format!("outage-{i}")).await;
                    (i, response.status().as_u16(), response)
                }
            })
            .buffer_unordered(SUBMITTERS)
            .collect()
            .await
    })
    .await
    .expect("every submit is answered in time");
    stop.store(true, Ordering::Relaxed);
    let terminated = terminator.await.expect("the terminator ran");
    assert!(
        terminated > 0,
        "no backend was terminated: nothing was tested"
    );

    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for (_, status, _) in &answers {
        *statuses.entry(*status).or_default() += 1;
    }
    assert!(
        statuses.keys().all(|status| matches!(status, 202 | 503)),
        "every submit is 202 or 503, but the answers were {statuses:?} (status: count)"
    );
    let mut unavailable = Vec::new();
    for (i, status, response) in answers {
        if status == 503 {
            assert!(
                response.headers().contains_key("retry-after"),
                "submit {i}: a 503 without Retry-After"
            );
            assert_problem(response, 503, "unavailable").await;
            unavailable.push(i);
        }
    }

    // The pool replaced its dead connections: the API serves again at once.
    let after = submit(&app.client, &api, &app.api_key, "after-the-outage").await;
    assert_eq!(
        after.status(),
        202,
        "the API does not serve after the outage"
    );

    // A 503'd submit may have been stored: its retry under the same key
    // returns it (200) or stores it now (202), and never stores it twice.
    let mut stored_despite_503 = 0;
    for i in &unavailable {
        let retry = submit(&app.client, &api, &app.api_key, &format!("outage-{i}")).await;
        match retry.status().as_u16() {
            200 => stored_despite_503 += 1,
            202 => {}
            other => panic!("the retry of submit {i} answered {other}"),
        }
    }
    let jobs: i64 = sqlx::query_scalar("select count(*) from jobs")
        .fetch_one(&pool)
        .await
        .expect("count jobs");
    assert_eq!(
        jobs,
        i64::try_from(SUBMITS + 1).expect("small"),
        "one job per key"
    );
    eprintln!(
        "outage: {terminated} backends terminated; answers {statuses:?}; \
         {stored_despite_503} of {} 503s had been stored",
        unavailable.len()
    );
    production.close().await;
}

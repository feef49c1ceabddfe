//! `GET /v1/jobs/{id}?wait_seconds=N`: answered as soon as the job is final
//! or the wait ends, woken by the `jobs_finished` notices through one
//! listener per process, with no connection held while waiting.
//!
//! The only clock these tests read is "before the wait ended"; whether a
//! request is waiting is read from the `jobs_waiting_requests` gauge, which
//! counts requests that read their job and wait for a notice.

use crate::helpers::{TestApp, assert_problem, noop, pubsub_settings, spawn_app, test_settings};
use jobs_api::job_waiters::FINISHED_CHANNEL;
use jobs_api::startup::build_on;
use jobs_domain::api_keys::create_key;
use jobs_domain::{Claim, JobId, JobStore, Outcome, Recorded};
use pubsub_emulator::{Emulator, Setup};
use reqwest::{Client, Response};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The wait asked for where a test must see the answer come before it ended.
const LONG_WAIT: u64 = 60;

/// Longest a test polls for a condition before failing; only a hang reaches it.
const GUARD: Duration = Duration::from_secs(60);

/// The `jobs_waiting_requests` gauge of the API at `address`.
async fn waiting(client: &Client, address: &str) -> u64 {
    let text = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("jobs_waiting_requests "))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no waiting gauge in {text}"))
}

/// Polls the gauge until it reads `count`.
async fn until_waiting(client: &Client, address: &str, count: u64) {
    let started = Instant::now();
    loop {
        let now = waiting(client, address).await;
        if now == count {
            return;
        }
        assert!(
            started.elapsed() < GUARD,
            "{now} requests waiting, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A GET of `/v1/jobs/{id}?wait_seconds=N` running on its own, with the
/// moment it was sent.
struct Wait {
    sent: Instant,
    answer: JoinHandle<Response>,
}

impl Wait {
    fn start(client: &Client, address: &str, key: &str, id: &str, seconds: u64) -> Self {
        let request = client
            .get(format!("{address}/v1/jobs/{id}?wait_seconds={seconds}"))
            .bearer_auth(key);
        Wait {
            sent: Instant::now(),
            answer: tokio::spawn(async move { request.send().await.expect("the wait's answer") }),
        }
    }

    /// The answer, which must be a 200 without `Retry-After`, and the job in it.
    async fn job(self) -> (Value, Duration) {
        let response = self.answer.await.expect("the wait's task");
        let took = self.sent.elapsed();
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("retry-after").is_none());
        (response.json().await.expect("job json"), took)
    }
}

fn wait(app: &TestApp, id: &str, seconds: u64) -> Wait {
    Wait::start(&app.client, &app.address, &app.api_key, id, seconds)
}

fn job_id(job: &Value) -> JobId {
    JobId(Uuid::parse_str(job["id"].as_str().expect("id")).expect("uuid"))
}

/// Runs the job as a worker would: claims it and records `outcome`.
async fn run(pool: &PgPool, job: &Value, outcome: Outcome) -> Recorded {
    let store = JobStore::new(pool.clone());
    let Claim::Claimed(claimed) = store
        .claim(job_id(job), Duration::from_secs(30))
        .await
        .expect("claim")
    else {
        panic!("the job could not be claimed");
    };
    store.record(&claimed, outcome).await.expect("record")
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wait_returns_the_job_as_soon_as_it_completes_before_the_wait_ended(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let job = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    let waiter = wait(&app, id, LONG_WAIT);
    // It read the job (pending) and waits for a notice.
    until_waiting(&app.client, &app.address, 1).await;

    let recorded = run(&pool, &job, Outcome::Succeeded(json!({"answer": 42}))).await;
    assert!(matches!(recorded, Recorded::Completed(_)), "{recorded:?}");

    let (answered, took) = waiter.job().await;
    assert_eq!(answered["status"], "completed");
    assert_eq!(answered["result"], json!({"answer": 42}));
    assert!(took < Duration::from_secs(LONG_WAIT), "took {took:?}");
    assert_eq!(waiting(&app.client, &app.address).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wait_returns_a_failed_job_as_soon_as_it_fails(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let job = app.submitted_job(&noop()).await;
    let waiter = wait(&app, job["id"].as_str().expect("id"), LONG_WAIT);
    until_waiting(&app.client, &app.address, 1).await;

    run(&pool, &job, Outcome::Permanent("no such user".into())).await;

    let (answered, took) = waiter.job().await;
    assert_eq!(answered["status"], "failed");
    assert!(took < Duration::from_secs(LONG_WAIT), "took {took:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wait_on_a_job_that_stays_pending_returns_at_its_deadline_with_the_pending_job(
    pool: PgPool,
) {
    let app = spawn_app(pool).await;
    let job = app.submitted_job(&noop()).await;
    let waiter = wait(&app, job["id"].as_str().expect("id"), 1);
    // It waited (rather than answering at once)…
    until_waiting(&app.client, &app.address, 1).await;
    // …and answers when the second is over, with the job as it is.
    let (answered, _) = waiter.job().await;
    assert_eq!(answered["status"], "pending");
    assert_eq!(answered["id"], job["id"]);
    assert_eq!(waiting(&app.client, &app.address).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_final_job_is_answered_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    assert_eq!(
        app.post(&format!("/v1/jobs/{id}/cancel")).await.status(),
        200
    );

    let (answered, took) = wait(&app, id, LONG_WAIT).job().await;
    assert_eq!(answered["status"], "cancelled");
    assert!(took < Duration::from_secs(LONG_WAIT), "took {took:?}");

    // Absent or 0: the read as it always was.
    for query in ["", "?wait_seconds=0", "?wait_seconds=00"] {
        let response = app.get(&format!("/v1/jobs/{id}{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn another_tenants_job_is_404_even_with_a_wait(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    let other = app.other_tenant_key().await;
    let response = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}?wait_seconds={LONG_WAIT}")))
        .bearer_auth(other)
        .send()
        .await
        .expect("send");
    assert_problem(response, 404, "not-found").await;
    let unknown = Uuid::new_v4();
    let response = app
        .get(&format!("/v1/jobs/{unknown}?wait_seconds={LONG_WAIT}"))
        .await;
    assert_problem(response, 404, "not-found").await;
    assert_eq!(waiting(&app.client, &app.address).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn bad_wait_seconds_are_422_naming_the_parameter(pool: PgPool) {
    let app = spawn_app(pool).await;
    let job = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    for value in [
        "61",
        "-1",
        "x",
        "%2B5",
        "",
        "1.5",
        " 5",
        "99999999999999999999",
    ] {
        let response = app
            .get(&format!("/v1/jobs/{id}?wait_seconds={value}"))
            .await;
        let problem = assert_problem(response, 422, "invalid-fields").await;
        assert_eq!(
            problem["errors"][0]["field"], "wait_seconds",
            "{value}: {problem}"
        );
    }
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn the_wait_is_documented_with_its_bounds(pool: PgPool) {
    let app = spawn_app(pool).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("document")
        .json()
        .await
        .expect("json");
    let get = &doc["paths"]["/v1/jobs/{id}"]["get"];
    let param = get["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "wait_seconds")
        .expect("wait_seconds is documented");
    assert_eq!(param["in"], "query");
    assert_eq!(param["required"], false);
    assert_eq!(param["schema"]["type"], "integer");
    assert_eq!(
        (&param["schema"]["minimum"], &param["schema"]["maximum"]),
        (&json!(0), &json!(60))
    );
    assert!(get["responses"]["422"].is_object());
    assert!(get["responses"]["200"]["headers"]["Retry-After"].is_null());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_thousand_concurrent_waiters_on_a_pool_of_twenty_all_get_the_completed_job(
    _: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const WAITERS: usize = 1_000;
    const POOL: u32 = 20;
    // A pool of its own: the harness's would borrow its connections from a
    // shared parent, which needs them back to drop the test's database.
    let pool = PgPoolOptions::new()
        .max_connections(POOL)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(connect)
        .await
        .expect("pool");
    let app = spawn_app(pool.clone()).await;
    let job = app.submitted_job(&noop()).await;
    let other = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    // The key is verified once, not by a thousand lookups at the same moment.
    assert_eq!(app.get(&format!("/v1/jobs/{id}")).await.status(), 200);

    let waiters: Vec<Wait> = (0..WAITERS).map(|_| wait(&app, id, LONG_WAIT)).collect();
    until_waiting(&app.client, &app.address, WAITERS as u64).await;

    // All of them read the job and wait, yet the pool has its connections
    // back: only the two listeners keep one.
    let started = Instant::now();
    while pool.size() - pool.num_idle() as u32 > 2 {
        assert!(
            started.elapsed() < GUARD,
            "{} of {} connections in use while only waiting",
            pool.size() - pool.num_idle() as u32,
            pool.size()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pool.size() <= POOL);
    // Other requests are served meanwhile, reads and writes.
    let other_id = other["id"].as_str().expect("id");
    let response = app.get(&format!("/v1/jobs/{other_id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.submit_job(&noop()).await.status(), 202);
    assert_eq!(
        waiting(&app.client, &app.address).await,
        WAITERS as u64,
        "still waiting"
    );

    run(&pool, &job, Outcome::Succeeded(json!({"n": 1}))).await;

    for waiter in waiters {
        let (answered, took) = waiter.job().await;
        assert_eq!(answered["status"], "completed");
        assert_eq!(answered["result"], json!({"n": 1}));
        assert!(took < Duration::from_secs(LONG_WAIT), "took {took:?}");
    }
    assert_eq!(waiting(&app.client, &app.address).await, 0);
    assert!(pool.size() <= POOL);
    // The harness closes only the pools it built.
    pool.close().await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_waiter_whose_client_disconnects_leaves_no_registration_behind(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let job = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    // Its own client, so its connection goes with it.
    let leaving = Wait::start(&Client::new(), &app.address, &app.api_key, id, LONG_WAIT);
    let staying = wait(&app, id, LONG_WAIT);
    until_waiting(&app.client, &app.address, 2).await;

    leaving.answer.abort();
    assert!(leaving.answer.await.is_err_and(|err| err.is_cancelled()));
    // The server dropped the request, and its waiter with it.
    until_waiting(&app.client, &app.address, 1).await;

    // The one that stayed is still woken.
    run(&pool, &job, Outcome::Succeeded(json!(null))).await;
    let (answered, _) = staying.job().await;
    assert_eq!(answered["status"], "completed");
    assert_eq!(waiting(&app.client, &app.address).await, 0);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wait_is_cut_short_to_answer_within_the_request_timeout(pool: PgPool) {
    let app = crate::helpers::spawn_app_with(pool, &["--http-request-timeout=2"]).await;
    let job = app.submitted_job(&noop()).await;
    // Not the request timeout's 503: the job as it is, before the wait asked for ended.
    let (answered, took) = wait(&app, job["id"].as_str().expect("id"), LONG_WAIT)
        .job()
        .await;
    assert_eq!(answered["status"], "pending");
    assert!(took < Duration::from_secs(LONG_WAIT), "took {took:?}");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_wait_ends_with_the_job_as_it_is_when_the_server_shuts_down(pool: PgPool) {
    let key = create_key(&pool, "acme").await.expect("key").key;
    let emulator = Emulator::builder()
        .bind("127.0.0.1:0")
        .setup(Setup::new().topic("jobs"))
        .start()
        .await
        .expect("emulator");
    let mut settings = test_settings(&pubsub_settings(&emulator.host()), &[]);
    // Longer than the test could pass by: a wait that held the drain up would be cut, unanswered.
    settings.server.listen.shutdown_grace = Duration::from_secs(LONG_WAIT);
    let server = build_on(&settings, pool).await.expect("the API builds");
    let address = format!("http://127.0.0.1:{}", server.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = Client::new();
    let job: Value = client
        .post(format!("{address}/v1/jobs"))
        .bearer_auth(&key)
        .json(&noop())
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("job");
    let waiter = Wait::start(
        &client,
        &address,
        &key,
        job["id"].as_str().expect("id"),
        LONG_WAIT,
    );
    until_waiting(&client, &address, 1).await;

    stop.send(()).expect("the server is running");
    let (answered, took) = waiter.job().await;
    assert_eq!(answered["status"], "pending");
    assert!(took < Duration::from_secs(LONG_WAIT), "took {took:?}");
    serving
        .await
        .expect("the server's task")
        .expect("the server stopped cleanly");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn only_a_change_to_a_final_status_sends_a_notice(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let mut listener = PgListener::connect_with(&pool).await.expect("listener");
    listener.listen(FINISHED_CHANNEL).await.expect("listen");
    let retried = app
        .submitted_job(&json!({"type": "noop", "payload": {}, "max_attempts": 3}))
        .await;
    let cancelled = app.submitted_job(&noop()).await;

    // Claimed, then back to pending after a retryable error: no notice.
    let recorded = run(&pool, &retried, Outcome::Retryable("later".into())).await;
    assert!(matches!(recorded, Recorded::Retrying(_)), "{recorded:?}");
    // Cancelled (a notice), retried through the API (none), cancelled again (a notice).
    let cancelled_id = cancelled["id"].as_str().expect("id");
    for path in ["cancel", "retry", "cancel"] {
        let response = app.post(&format!("/v1/jobs/{cancelled_id}/{path}")).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    // Completed on its second attempt: a notice.
    run(&pool, &retried, Outcome::Succeeded(json!(1))).await;
    sqlx::query("select pg_notify($1, 'end')")
        .bind(FINISHED_CHANNEL)
        .execute(&pool)
        .await
        .expect("notify");

    let mut heard = Vec::new();
    loop {
        let notice = listener.recv().await.expect("a notice");
        if notice.payload() == "end" {
            break;
        }
        heard.push(notice.payload().to_owned());
    }
    assert_eq!(
        heard,
        [
            cancelled_id,
            cancelled_id,
            retried["id"].as_str().expect("id")
        ]
    );
}

//! Slow clients are cut while long jobs are not: a push whose headers or body
//! stall loses its connection within the configured timeouts, but the body's
//! bound is the body's alone, and a job longer than it still runs to its end.

use crate::helpers::{WorkerOptions, assert_ack, assert_problem, envelope, test_settings};
use jobs_domain::api_keys::create_key;
use jobs_domain::{JobId, JobStatus, JobStore, NewJob, TenantId};
use jobs_worker::startup::build_with;
use reqwest::Client;
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a stalled client may wait for the server to cut it before the
/// test fails: the timeouts are 1 s, so this only catches "never".
const GUARD: Duration = Duration::from_secs(8);

/// A worker with short HTTP timeouts.
struct Worker {
    host: String,
    jobs: JobStore,
    tenant: TenantId,
}

/// Starts the test worker with 1 s header and body timeouts and a
/// whole-request timeout of `request_timeout`.
async fn spawn(pool: PgPool, request_timeout: Duration) -> Worker {
    let tenant = create_key(&pool, "acme").await.expect("tenant").tenant;
    let mut settings = test_settings(&WorkerOptions::default());
    settings.server.listen.header_timeout = Duration::from_secs(1);
    settings.server.listen.body_timeout = Duration::from_secs(1);
    settings.server.listen.request_timeout = request_timeout;
    let app = build_with(&settings, pool.clone(), None)
        .await
        .expect("the worker builds");
    let host = format!("127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    Worker {
        host,
        jobs: JobStore::new(pool),
        tenant,
    }
}

impl Worker {
    async fn sleep_job(&self, ms: u64) -> JobId {
        let new = NewJob {
            job_type: "sleep".to_owned(),
            payload: json!({ "ms": ms }),
            max_attempts: 3,
            timeout_seconds: 60,
            run_at: None,
            idempotency: None,
            callback_url: None,
            concurrency_key: None,
        };
        self.jobs
            .insert(self.tenant, new)
            .await
            .expect("insert")
            .job
            .id
    }

    async fn push(&self, job: JobId) -> reqwest::Response {
        Client::new()
            .post(format!("http://{}/pubsub/push", self.host))
            .header("content-type", "application/json")
            .body(envelope(job, "sleep", 1).to_string())
            .send()
            .await
            .expect("push")
    }

    async fn status(&self, job: JobId) -> JobStatus {
        self.jobs.get(self.tenant, job).await.expect("job").status
    }
}

/// Sends `sent` on a fresh connection to `host`, then stalls, and returns
/// what the server wrote until it closed the connection; `None` if it kept it
/// open past [`GUARD`].
async fn stall_after(host: &str, sent: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(host).await.expect("connect");
    stream.write_all(sent).await.expect("send");
    let mut received = Vec::new();
    let read = tokio::time::timeout(GUARD, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_push_whose_body_stalls_is_cut_with_a_408_and_runs_nothing(pool: PgPool) {
    let worker = spawn(pool, Duration::from_secs(600)).await;
    let job = worker.sleep_job(1).await;
    let head = "POST /pubsub/push HTTP/1.1\r\nhost: test\r\n\
                content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"message\"";
    let answer = stall_after(&worker.host, head.as_bytes())
        .await
        .expect("the server closed the connection");
    if !answer.is_empty() {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("urn:problem:request-timeout"), "{answer}");
    }
    assert_eq!(worker.status(job).await, JobStatus::Pending);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_push_whose_headers_stall_is_cut(pool: PgPool) {
    let worker = spawn(pool, Duration::from_secs(600)).await;
    let answer = stall_after(&worker.host, b"POST /pubsub/push HTTP/1.1\r\nhost: te").await;
    assert!(answer.is_some(), "the server kept the connection open");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_longer_than_the_header_and_body_timeouts_runs_to_its_end(pool: PgPool) {
    let worker = spawn(pool, Duration::from_secs(600)).await;
    let job = worker.sleep_job(2_000).await;
    assert_ack(worker.push(job).await, "completed").await;
    assert_eq!(worker.status(job).await, JobStatus::Completed);
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_run_past_the_request_timeout_is_nacked_and_its_outcome_still_saved(pool: PgPool) {
    let worker = spawn(pool, Duration::from_secs(1)).await;
    let job = worker.sleep_job(2_000).await;
    assert_problem(worker.push(job).await, 503, "unavailable").await;
    let started = Instant::now();
    while worker.status(job).await != JobStatus::Completed {
        assert!(started.elapsed() < GUARD, "the run never finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

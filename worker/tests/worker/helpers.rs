use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{any, get};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Parser;
use jobs_domain::api_keys::create_key;
use jobs_domain::{Job, JobHistoryEntry, JobId, JobStore, NewJob, TenantId};
use jobs_job_types::Registry;
use jobs_worker::push_auth::PushAuthSettings;
use jobs_worker::settings::WorkerSettings;
use jobs_worker::startup::build_with;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// Body limit of the test worker, small enough to cross cheaply.
pub const MAX_BODY_BYTES: u32 = 16 * 1024;

/// How a test worker differs from the default one.
pub struct WorkerOptions {
    pub registry: Option<Registry>,
    pub push_auth: Option<PushAuthSettings>,
    pub job_max_timeout: Duration,
    pub allow_private_networks: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            registry: None,
            push_auth: None,
            job_max_timeout: Duration::from_secs(540),
            // The test targets listen on 127.0.0.1.
            allow_private_networks: true,
        }
    }
}

/// A running worker and one tenant to own the jobs it runs.
pub struct TestWorker {
    pub address: String,
    pub client: Client,
    pub jobs: JobStore,
    pub tenant: TenantId,
}

/// Starts the worker with default options against `pool`.
pub async fn spawn_worker(pool: PgPool) -> TestWorker {
    spawn_worker_with(pool, WorkerOptions::default()).await
}

/// Starts the worker with `options` against `pool`.
pub async fn spawn_worker_with(pool: PgPool, options: WorkerOptions) -> TestWorker {
    let tenant = create_key(&pool, "acme")
        .await
        .expect("create tenant")
        .tenant;
    let address = serve(pool.clone(), options).await;
    TestWorker {
        address,
        client: Client::new(),
        jobs: JobStore::new(pool),
        tenant,
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    settings: WorkerSettings,
}

/// The settings of a test worker: production's parsing with a free port on
/// loopback and `options` on top. Pub/Sub (for the
/// reconciler's publishes) points at a port where nothing listens, and the
/// reconciler's first pass is an hour away.
pub fn test_settings(options: &WorkerOptions) -> WorkerSettings {
    let body_limit = format!("--push-max-body-bytes={MAX_BODY_BYTES}");
    let max_timeout = format!(
        "--max-timeout-seconds={}",
        options.job_max_timeout.as_secs()
    );
    // The default may not exceed the maximum.
    let default_timeout = format!(
        "--default-timeout-seconds={}",
        options.job_max_timeout.as_secs().min(60)
    );
    let private = format!(
        "--http-allow-private-networks={}",
        options.allow_private_networks
    );
    let args = [
        "worker",
        "--host=127.0.0.1",
        "--port=0",
        "--shutdown-grace=1",
        "--pubsub-emulator-host=127.0.0.1:1",
        // These tests drive deliveries; the reconciler is tested through real processes.
        "--reconcile-interval=3600",
        &body_limit,
        &max_timeout,
        &default_timeout,
        &private,
    ];
    let mut settings = Cli::try_parse_from(args)
        .expect("test settings parse")
        .settings;
    if let Some(push_auth) = &options.push_auth {
        settings.push_auth.push_audience = Some(push_auth.audience.clone());
        settings.push_auth.push_service_account = Some(push_auth.service_account.clone());
        settings.push_auth.push_jwks_url = push_auth.jwks_url.clone();
    }
    settings
}

/// Serves the worker for `pool` on a free port and returns its base URL.
pub async fn serve(pool: PgPool, options: WorkerOptions) -> String {
    let settings = test_settings(&options);
    let app = build_with(&settings, pool, options.registry)
        .await
        .expect("the worker builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    address
}

impl TestWorker {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Stores a pending job of the test tenant's.
    pub async fn insert_job(
        &self,
        job_type: &str,
        payload: Value,
        max_attempts: i32,
        timeout_seconds: i32,
    ) -> Job {
        let new = NewJob {
            job_type: job_type.to_owned(),
            payload,
            max_attempts,
            timeout_seconds,
            run_at: None,
            idempotency: None,
            callback_url: None,
            concurrency_key: None,
        };
        self.jobs
            .insert(self.tenant, new)
            .await
            .expect("insert job")
            .job
    }

    pub async fn job(&self, id: JobId) -> Job {
        self.jobs.get(self.tenant, id).await.expect("job")
    }

    pub async fn history(&self, id: JobId) -> Vec<JobHistoryEntry> {
        self.jobs.history(self.tenant, id).await.expect("history")
    }

    /// POSTs `body` as a push to `path`, with `token` as bearer when given.
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("post")
    }

    /// Delivers the job's message as Pub/Sub would.
    pub async fn push(&self, job: &Job) -> Response {
        let body = envelope(job.id, &job.job_type, 1).to_string();
        self.post("/pubsub/push", body, None).await
    }
}

/// A push envelope exactly as Pub/Sub sends it, snake_case twins included.
pub fn envelope(job_id: JobId, job_type: &str, delivery_attempt: u32) -> Value {
    let data = STANDARD.encode(json!({"job_id": job_id, "type": job_type}).to_string());
    envelope_with(
        json!(data),
        json!({"job_id": job_id.to_string(), "type": job_type}),
        delivery_attempt,
    )
}

/// A push envelope with the given `data` and `attributes`.
pub fn envelope_with(data: Value, attributes: Value, delivery_attempt: u32) -> Value {
    json!({
        "message": {
            "data": data,
            "attributes": attributes,
            "messageId": "2070443601311540",
            "message_id": "2070443601311540",
            "publishTime": "2026-01-01T12:00:00.123Z",
            "publish_time": "2026-01-01T12:00:00.123Z"
        },
        "subscription": "projects/test-project/subscriptions/jobs-worker",
        "deliveryAttempt": delivery_attempt
    })
}

/// The JSON body of a 2xx answer, after checking it is one.
pub async fn assert_ack(response: Response, outcome: &str) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("ack json");
    assert_eq!(status, 200, "expected an ack, got {body}");
    assert_eq!(body["outcome"], outcome, "{body}");
    body
}

/// Asserts a problem+json answer with `status` and `slug`, and returns its body.
pub async fn assert_problem(response: Response, status: u16, slug: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["type"], format!("urn:problem:{slug}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// The event names of a job's history, oldest first.
pub fn events(history: &[JobHistoryEntry]) -> Vec<String> {
    history.iter().map(|entry| entry.event.clone()).collect()
}

/// A local HTTP server for `http` jobs that counts the requests it gets.
pub struct Target {
    pub base: String,
    hits: Arc<AtomicUsize>,
}

impl Target {
    pub async fn start() -> Target {
        let hits = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/status/{code}", any(answer_with))
            .route(
                "/redirect",
                get(|| async { Redirect::temporary("/status/200") }),
            )
            .with_state(hits.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind target");
        let port = listener.local_addr().expect("local addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Target {
            base: format!("http://127.0.0.1:{port}"),
            hits,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn answer_with(
    State(hits): State<Arc<AtomicUsize>>,
    Path(code): Path<u16>,
) -> (StatusCode, String) {
    hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, format!("hello from {code}"))
}

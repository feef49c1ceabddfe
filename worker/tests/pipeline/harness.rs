//! The stack under test: API and emulator in process, worker as a child
//! process (or several, behind a balancer).

use crate::target::Target;
use clap::Parser;
use jobs_api::settings::ApiSettings;
use jobs_api::startup::build;
use jobs_domain::api_keys::create_key;
use jobs_domain::job_message::{
    DEAD_LETTER_PATH, DEAD_LETTER_SUBSCRIPTION, DEAD_LETTER_TOPIC, JOBS_TOPIC,
    MAX_DELIVERY_ATTEMPTS, PUSH_PATH, WORKER_SUBSCRIPTION,
};
use jobs_worker::settings::PULL_SUBSCRIPTION;
use pubsub_emulator::{Emulator, RunningEmulator, Setup, SubscriptionSetup};
use serde_json::Value;
use sqlx::PgPool;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Every delay of the emulator is divided by this: 10 s backoff becomes 100 ms.
pub const TIME_SCALE: f64 = 100.0;
/// Upper bound on any wait; a test that reaches it has failed.
pub const GUARD: Duration = Duration::from_secs(90);
/// The key sealing job types' HMAC secrets in the stack (32 zero bytes; tests only).
pub const SECRETS_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
/// The worker's heartbeat: leases reach three of them (3 s) ahead, so a dead
/// worker's lease expires quickly, and a beat may be late on a busy machine.
pub const LEASE_HEARTBEAT_SECONDS: &str = "1";

/// The running stack and a client holding one tenant's key.
pub struct Stack {
    pub api: String,
    pub client: reqwest::Client,
    pub api_key: String,
    pub target: Target,
    pub emulator: Option<RunningEmulator>,
    pub emulator_host: String,
    worker: Option<Child>,
    worker_port: u16,
    /// Worker processes behind the balancer at `worker_port`, and their URLs.
    balanced: Vec<(Child, String)>,
    /// Workers besides the one Pub/Sub pushes to, each on a port of its own:
    /// they compete for the reconciler's leadership.
    other_workers: Vec<Child>,
    database_url: String,
    /// Extra environment of the worker, over the defaults set in `start_worker`.
    worker_env: Vec<(String, String)>,
    /// Stops the API; `None` once stopped.
    api_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A port nothing listens on now, for a server started later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// The URL of the test's own database: `DATABASE_URL` with the database the test pool uses.
fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL must be set for these tests");
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    let database = pool
        .connect_options()
        .get_database()
        .expect("the test pool names its database")
        .to_owned();
    url.set_path(&database);
    url.to_string()
}

#[derive(Parser)]
struct ApiArgs {
    #[command(flatten)]
    settings: ApiSettings,
}

impl Stack {
    /// Starts everything: emulator, worker, API.
    pub async fn start(pool: PgPool) -> Stack {
        let mut stack = Stack::without_emulator(pool).await;
        stack.start_emulator().await;
        stack.start_worker().await;
        stack
    }

    /// Starts the API and the worker pointing at an emulator that is not running yet.
    pub async fn without_emulator(pool: PgPool) -> Stack {
        let database_url = database_url(&pool);
        Stack::without_emulator_at(pool, database_url).await
    }

    /// As [`Stack::without_emulator`], on the database at `database_url`
    /// (which `pool` connects to), e.g. a test's own PostgreSQL cluster.
    pub async fn without_emulator_at(pool: PgPool, database_url: String) -> Stack {
        let emulator_host = format!("127.0.0.1:{}", free_port());
        let args = ApiArgs::try_parse_from([
            "api",
            "--host=127.0.0.1",
            "--port=0",
            &format!("--database-url={database_url}"),
            &format!("--pubsub-emulator-host={emulator_host}"),
            &format!(
                "--google-cloud-project={}",
                pubsub_emulator::DEFAULT_PROJECT
            ),
            &format!("--job-type-secrets-key={SECRETS_KEY}"),
        ])
        .expect("API settings");
        let app = build(&args.settings).await.expect("API starts");
        let api = format!("http://127.0.0.1:{}", app.port());
        let (api_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            // Dropped with the stack: the API then runs on until the test ends.
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        let api_key = create_key(&pool, "acme").await.expect("key").key;
        Stack {
            api,
            client: reqwest::Client::new(),
            api_key,
            target: Target::start().await,
            emulator: None,
            emulator_host,
            worker: None,
            worker_port: free_port(),
            balanced: Vec::new(),
            other_workers: Vec::new(),
            database_url,
            worker_env: Vec::new(),
            api_stop: Some(api_stop),
        }
    }

    /// Stops the API (its port then refuses connections), as in an outage.
    pub fn stop_api(&mut self) {
        if let Some(stop) = self.api_stop.take() {
            let _ = stop.send(());
        }
    }

    /// Sets `key=value` in the environment of every worker started from now on.
    pub fn set_worker_env(&mut self, key: &str, value: &str) {
        self.worker_env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts everything with the worker in pull mode: it streams the jobs
    /// from [`PULL_SUBSCRIPTION`] (no push endpoint), and dead-letters are
    /// pushed to it as in push mode.
    pub async fn start_pulling(pool: PgPool) -> Stack {
        let mut stack = Stack::without_emulator(pool).await;
        stack.start_pulling_worker().await;
        stack
    }

    /// Starts the emulator with the pull topology and the worker in pull
    /// mode, for a stack made by [`Stack::without_emulator`].
    pub async fn start_pulling_worker(&mut self) {
        let stack = self;
        stack.start_pull_emulator().await;
        stack.set_worker_env("WORKER_MODE", "pull");
        stack.set_worker_env("PUBSUB_PULL_SUBSCRIPTION", PULL_SUBSCRIPTION);
        // Pub/Sub's shortest: a test job outlives it in seconds.
        stack.set_worker_env("PULL_ACK_DEADLINE_SECONDS", "10");
        stack.set_worker_env("PULL_CONCURRENCY", "32");
        stack.start_worker().await;
    }

    /// Starts the emulator with the pull topology: the jobs topic's pull
    /// subscription with the production policies (dead-letter after 5
    /// deliveries, retry 10 s to 600 s shrunk by [`TIME_SCALE`] by hand), and
    /// the dead-letter push subscription. The emulator itself runs at scale 1:
    /// the subscriber extends deadlines on its own unscaled clock.
    pub async fn start_pull_emulator(&mut self) {
        let worker = format!("http://127.0.0.1:{}", self.worker_port);
        let scaled = |seconds: f64| Duration::from_secs_f64(seconds / TIME_SCALE);
        let setup = Setup::new()
            .subscription(
                SubscriptionSetup::pull(PULL_SUBSCRIPTION, JOBS_TOPIC)
                    .ack_deadline_seconds(10)
                    .retry(scaled(10.0), scaled(600.0))
                    .dead_letter(DEAD_LETTER_TOPIC, MAX_DELIVERY_ATTEMPTS),
            )
            .subscription(SubscriptionSetup::push(
                DEAD_LETTER_SUBSCRIPTION,
                DEAD_LETTER_TOPIC,
                format!("{worker}{DEAD_LETTER_PATH}"),
            ));
        let emulator = Emulator::builder()
            .bind(self.emulator_host.clone())
            .setup(setup)
            .start()
            .await
            .expect("emulator starts");
        self.emulator = Some(emulator);
    }

    /// Starts the emulator where the API and worker expect it, with the
    /// production topology: retry 10 s to 600 s, dead-letter after 5 deliveries.
    pub async fn start_emulator(&mut self) {
        let worker = format!("http://127.0.0.1:{}", self.worker_port);
        let setup = Setup::new()
            .subscription(
                SubscriptionSetup::push(
                    WORKER_SUBSCRIPTION,
                    JOBS_TOPIC,
                    format!("{worker}{PUSH_PATH}"),
                )
                .ack_deadline_seconds(600)
                .retry(Duration::from_secs(10), Duration::from_secs(600))
                .dead_letter(DEAD_LETTER_TOPIC, MAX_DELIVERY_ATTEMPTS),
            )
            .subscription(SubscriptionSetup::push(
                DEAD_LETTER_SUBSCRIPTION,
                DEAD_LETTER_TOPIC,
                format!("{worker}{DEAD_LETTER_PATH}"),
            ));
        let emulator = Emulator::builder()
            .bind(self.emulator_host.clone())
            .time_scale(TIME_SCALE)
            .setup(setup)
            .start()
            .await
            .expect("emulator starts");
        self.emulator = Some(emulator);
    }

    /// Starts the worker binary and waits until it is ready.
    pub async fn start_worker(&mut self) {
        let database_url = self.database_url.clone();
        self.spawn_worker(&database_url, "/readyz").await;
    }

    /// Starts `count` worker processes, each on a port of its own, behind a
    /// round-robin balancer where the emulator pushes (as Cloud Run spreads
    /// pushes over instances), and waits until each is ready. Every one of
    /// them runs the reconciler loop too, and one leads it.
    pub async fn start_balanced_workers(&mut self, count: usize) {
        let database_url = self.database_url.clone();
        let mut urls = Vec::new();
        for _ in 0..count {
            let port = free_port();
            let child = self.spawn_worker_at(&database_url, port, "/readyz").await;
            let url = format!("http://127.0.0.1:{port}");
            urls.push(url.clone());
            self.balanced.push((child, url));
        }
        crate::balancer::start(self.worker_port, urls).await;
    }

    /// The base URLs of the workers behind the balancer.
    pub fn balanced_worker_urls(&self) -> Vec<String> {
        self.balanced.iter().map(|(_, url)| url.clone()).collect()
    }

    /// Starts the worker with a database that cannot be reached (nothing
    /// listens at its port), as during an outage, and waits until it is up.
    pub async fn start_worker_without_database(&mut self) {
        let unreachable = format!("postgres://postgres@127.0.0.1:{}/jobs", free_port());
        self.spawn_worker(&unreachable, "/healthz").await;
    }

    /// Starts another worker process on a port of its own (Pub/Sub does not
    /// push to it) and waits until it is ready; it competes for the
    /// reconciler's leadership like any worker.
    pub async fn start_another_worker(&mut self) {
        let database_url = self.database_url.clone();
        let child = self
            .spawn_worker_at(&database_url, free_port(), "/readyz")
            .await;
        self.other_workers.push(child);
    }

    async fn spawn_worker(&mut self, database_url: &str, ready_path: &str) {
        let child = self
            .spawn_worker_at(database_url, self.worker_port, ready_path)
            .await;
        self.worker = Some(child);
    }

    /// Starts a worker process listening on `port` and waits until
    /// `ready_path` answers 2xx there.
    async fn spawn_worker_at(&self, database_url: &str, port: u16, ready_path: &str) -> Child {
        let child = Command::new(env!("CARGO_BIN_EXE_worker"))
            .env("DATABASE_URL", database_url)
            .env("DATABASE_MAX_CONNECTIONS", "10")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("PUBSUB_EMULATOR_HOST", &self.emulator_host)
            .env("GOOGLE_CLOUD_PROJECT", pubsub_emulator::DEFAULT_PROJECT)
            .env("JOBS_TOPIC", JOBS_TOPIC)
            .env("LEASE_HEARTBEAT_SECONDS", LEASE_HEARTBEAT_SECONDS)
            .env("JOB_TYPE_SECRETS_KEY", SECRETS_KEY)
            .env("RECONCILE_INTERVAL_SECONDS", "0.2")
            .env("RECONCILE_PUBLISH_GRACE_SECONDS", "1")
            // The time scale for requeues, as the emulator's for its backoff.
            .env("DEAD_LETTER_REQUEUE_DELAY_SECONDS", "0.5")
            .env("DEAD_LETTER_REQUEUE_MAX_DELAY_SECONDS", "2")
            // And for deferrals at a concurrency limit: 10 ms doubling to 100 ms.
            .env("CONCURRENCY_DEFER_DELAY_SECONDS", "0.01")
            .env("CONCURRENCY_DEFER_MAX_DELAY_SECONDS", "0.1")
            .env("HTTP_ALLOW_PRIVATE_NETWORKS", "true")
            .env("LOG_FORMAT", "pretty")
            .env(
                "RUST_LOG",
                std::env::var("WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(self.worker_env.iter().map(|(key, value)| (key, value)))
            .kill_on_drop(true)
            .spawn()
            .expect("worker starts");
        let ready = format!("http://127.0.0.1:{port}{ready_path}");
        tokio::time::timeout(GUARD, async {
            loop {
                if let Ok(response) = self.client.get(&ready).send().await
                    && response.status().is_success()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the worker becomes ready");
        child
    }

    /// Kills the worker with SIGKILL: no shutdown, no outcome written.
    pub async fn kill_worker(&mut self) {
        if let Some(mut child) = self.worker.take() {
            child.kill().await.expect("SIGKILL the worker");
        }
    }

    /// SIGKILLs the worker, leaves it down for `down` (pushes to it fail
    /// meanwhile), then starts a new one and waits until it is ready.
    pub async fn restart_worker(&mut self, down: Duration) {
        self.kill_worker().await;
        tokio::time::sleep(down).await;
        self.start_worker().await;
    }

    /// Stops the emulator; every message it held is lost, as in an outage
    /// that loses Pub/Sub's state. [`Stack::start_emulator`] starts a new one
    /// where the API and the worker expect it.
    pub async fn stop_emulator(&mut self) {
        if let Some(emulator) = self.emulator.take() {
            emulator.shutdown().await;
        }
    }

    /// The worker's base URL.
    pub fn worker_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.worker_port)
    }

    /// The worker's `/metrics` text.
    pub async fn worker_metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.worker_url()))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Asks the worker to stop (SIGTERM, as Cloud Run does) and waits for it
    /// to exit; returns whether it exited successfully.
    pub async fn terminate_worker(&mut self) -> bool {
        let mut child = self.worker.take().expect("a worker runs");
        let pid = child.id().expect("the worker has not exited");
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        tokio::time::timeout(GUARD, child.wait())
            .await
            .expect("the worker exits")
            .expect("the worker's status")
            .success()
    }

    /// Submits a job that must be accepted; returns its id.
    pub async fn submit(&self, body: &Value) -> String {
        let response = self
            .client
            .post(format!("{}/v1/jobs", self.api))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("submit");
        assert_eq!(response.status(), 202, "submit refused: {body}");
        let job: Value = response.json().await.expect("job");
        job["id"].as_str().expect("id").to_owned()
    }

    /// GETs an API path as the tenant.
    pub async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// POSTs an API path as the tenant and returns the status.
    pub async fn post(&self, path: &str) -> u16 {
        self.client
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("post")
            .status()
            .as_u16()
    }

    /// The job as the API shows it.
    pub async fn job(&self, id: &str) -> Value {
        self.get(&format!("/v1/jobs/{id}")).await
    }

    /// The job's events as `(event, to_status)` pairs.
    pub async fn events(&self, id: &str) -> Vec<(String, String)> {
        let body = self.get(&format!("/v1/jobs/{id}/events")).await;
        body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap_or_default().to_owned(),
                    e["to_status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Polls the job until `done` holds for it.
    pub async fn wait_until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        tokio::time::timeout(GUARD, async {
            loop {
                let job = self.job(id).await;
                if done(&job) {
                    return job;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("job {id} never became {what}"))
    }

    /// Polls the job until it is completed, failed or cancelled.
    pub async fn finished(&self, id: &str) -> Value {
        self.wait_until(id, "finished", |job| {
            matches!(
                job["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
        .await
    }
}

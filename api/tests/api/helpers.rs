use clap::Parser;
use jobs_api::settings::ApiSettings;
use jobs_api::startup::build_on;
use jobs_domain::api_keys::create_key;
use jobs_runtime::settings::PubSubSettings;
use pubsub_emulator::{Emulator, RunningEmulator, Setup, SubscriptionSetup};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;
use sqlx::PgPool;

/// Body limit used by the test app, small enough to cross cheaply.
pub const MAX_BODY_BYTES: u32 = 16 * 1024;

/// The pull subscription on `jobs` that tests read published messages from.
pub const TAP_SUBSCRIPTION: &str = "api-tests";

/// A running API and a client holding one tenant's key.
pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub api_key: String,
    pub pool: PgPool,
    pub emulator: RunningEmulator,
}

/// Starts the real application on a random port against `pool`, publishing
/// to a fresh Pub/Sub emulator with a pull subscription on `jobs`.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, &[]).await
}

/// As [`spawn_app`], with extra command-line settings (`--tenant-rate-limit=2`).
pub async fn spawn_app_with(pool: PgPool, args: &[&str]) -> TestApp {
    let api_key = create_key(&pool, "acme").await.expect("create key").key;
    let emulator = Emulator::builder()
        .bind("127.0.0.1:0")
        .setup(Setup::new().subscription(SubscriptionSetup::pull(TAP_SUBSCRIPTION, "jobs")))
        .start()
        .await
        .expect("emulator");
    let address = serve_with(pool.clone(), &pubsub_settings(&emulator.host()), args).await;
    TestApp {
        address,
        client: Client::new(),
        api_key,
        pool,
        emulator,
    }
}

/// Pub/Sub settings pointing at an emulator on `host`.
pub fn pubsub_settings(host: &str) -> PubSubSettings {
    PubSubSettings {
        project: pubsub_emulator::DEFAULT_PROJECT.to_owned(),
        emulator_host: Some(host.to_owned()),
        jobs_topic: "jobs".to_owned(),
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    settings: ApiSettings,
}

/// The settings of a test API: production's parsing with a free port on
/// loopback, a small body limit and `args` on top; the app runs on the
/// test's own pool (see [`serve_with`]).
pub fn test_settings(pubsub: &PubSubSettings, args: &[&str]) -> ApiSettings {
    let body_limit = format!("--max-body-bytes={MAX_BODY_BYTES}");
    let fixed = [
        "api",
        "--host=127.0.0.1",
        "--port=0",
        "--shutdown-grace=1",
        &body_limit,
    ];
    let mut settings = Cli::try_parse_from(fixed.iter().chain(args))
        .expect("test settings parse")
        .settings;
    settings.server.pubsub = pubsub.clone();
    settings
}

/// Serves the app for `pool` and returns its base URL.
pub async fn serve(pool: PgPool, pubsub: &PubSubSettings) -> String {
    serve_with(pool, pubsub, &[]).await
}

/// As [`serve`], with extra command-line settings.
pub async fn serve_with(pool: PgPool, pubsub: &PubSubSettings, args: &[&str]) -> String {
    let app = build_on(&test_settings(pubsub, args), pool)
        .await
        .expect("the API builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    address
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(&self.api_key)
    }

    pub async fn submit_job(&self, body: &Value) -> Response {
        self.authed(self.client.post(self.url("/v1/jobs")).json(body))
            .send()
            .await
            .expect("submit")
    }

    /// Submits a job that must be accepted, and returns it.
    pub async fn submitted_job(&self, body: &Value) -> Value {
        let response = self.submit_job(body).await;
        assert_eq!(response.status(), 202, "submit was refused");
        response.json().await.expect("job json")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.authed(self.client.get(self.url(path)))
            .send()
            .await
            .expect("get")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.authed(self.client.post(self.url(path)).json(body))
            .send()
            .await
            .expect("post")
    }

    pub async fn post(&self, path: &str) -> Response {
        self.authed(self.client.post(self.url(path)))
            .send()
            .await
            .expect("post")
    }

    /// A second tenant's key.
    pub async fn other_tenant_key(&self) -> String {
        create_key(&self.pool, "globex").await.expect("key").key
    }
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
    assert_eq!(body["type"], format!("urn:problem:{slug}"));
    assert_eq!(body["status"], status);
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

pub fn noop() -> Value {
    serde_json::json!({"type": "noop", "payload": {"hello": "world"}})
}

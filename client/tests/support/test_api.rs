//! A real jobs API for tests of its clients: production's settings parsing
//! and start-up on a free loopback port, the test's own database pool, and
//! a Pub/Sub emulator with the `jobs` topic to publish to. There is no
//! worker: a test moves jobs on with [`TestApi::claim`] and
//! [`TestApi::finish`], as a delivery would.
//!
//! The client crate's tests and the `jobs` binary's (`jobs/tests/client`,
//! through `#[path]`) share this one file.

use clap::Parser;
use jobs_api::settings::ApiSettings;
use jobs_domain::api_keys::create_key;
use jobs_domain::{Claim, Job, JobId, JobStore, Outcome, Recorded};
use pubsub_emulator::{Emulator, RunningEmulator, Setup};
use sqlx::PgPool;
use std::time::Duration;

/// A key that seals secrets, so hmac job types and callback secrets work.
pub const SECRETS_KEY: &str = "--job-type-secrets-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A running API and a key of tenant `acme`.
pub struct TestApi {
    /// The API's base URL.
    pub url: String,
    /// An API key of tenant `acme`.
    pub key: String,
    /// The API's database.
    pub pool: PgPool,
    /// Where the API publishes; dropped with the API.
    _emulator: RunningEmulator,
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    settings: ApiSettings,
}

impl TestApi {
    /// Starts the API on `pool` with a sealing key and `args` on top
    /// (`--tenant-rate-limit=1`).
    pub async fn start(pool: PgPool, args: &[&str]) -> TestApi {
        let emulator = Emulator::builder()
            .bind("127.0.0.1:0")
            .setup(Setup::new().topic("jobs"))
            .start()
            .await
            .expect("the emulator starts");
        let emulator_host = format!("--pubsub-emulator-host={}", emulator.host());
        let fixed = [
            "api",
            "--host=127.0.0.1",
            "--port=0",
            "--shutdown-grace=1",
            "--google-cloud-project=local-project",
            "--jobs-topic=jobs",
            &emulator_host,
            SECRETS_KEY,
        ];
        let settings = Cli::try_parse_from(fixed.iter().chain(args))
            .expect("the test settings parse")
            .settings;
        let server = jobs_api::startup::build_on(&settings, pool.clone())
            .await
            .expect("the API builds");
        let url = format!("http://127.0.0.1:{}", server.port());
        tokio::spawn(server.run_until_stopped(std::future::pending()));
        let key = create_key(&pool, "acme").await.expect("a key").key;
        TestApi {
            url,
            key,
            pool,
            _emulator: emulator,
        }
    }

    /// Claims the pending job `id` as a delivery would.
    pub async fn claim(&self, id: uuid::Uuid) -> Job {
        let store = JobStore::new(self.pool.clone());
        match store.claim(JobId(id), Duration::from_secs(30)).await {
            Ok(Claim::Claimed(job)) => job,
            other => panic!("job {id} could not be claimed: {other:?}"),
        }
    }

    /// Claims the pending job `id` and records `outcome`, as a delivery
    /// whose handler ended so would.
    pub async fn finish(&self, id: uuid::Uuid, outcome: Outcome) -> Job {
        let job = self.claim(id).await;
        let store = JobStore::new(self.pool.clone());
        match store.record(&job, outcome).await {
            Ok(Recorded::Completed(job) | Recorded::Failed(job)) => *job,
            other => panic!("job {id} did not end: {other:?}"),
        }
    }
}

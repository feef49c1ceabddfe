use crate::helpers::{
    TAP_SUBSCRIPTION, TestApp, noop, pubsub_settings, serve, spawn_app, test_settings,
};
use google_cloud_pubsub::client::Subscriber;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

/// Upper bound on waits; a test that needs it has failed.
const GUARD: Duration = Duration::from_secs(20);

/// The next message on the tap subscription, acked: (data as JSON, attributes).
async fn next_message(app: &TestApp) -> (Value, std::collections::HashMap<String, String>) {
    let subscriber = Subscriber::builder()
        .with_endpoint(app.emulator.endpoint())
        .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
        .build()
        .await
        .expect("subscriber");
    let path = format!(
        "projects/{}/subscriptions/{TAP_SUBSCRIPTION}",
        app.emulator.project()
    );
    let mut stream = subscriber.subscribe(path).build();
    let (message, handler) = tokio::time::timeout(GUARD, stream.next())
        .await
        .expect("a message within the guard")
        .expect("stream open")
        .expect("message");
    handler.ack();
    let data = serde_json::from_slice(&message.data).expect("JSON data");
    (data, message.attributes)
}

/// Whether `check` holds within the guard, asked every 20 ms.
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(GUARD, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

async fn published_at_is_set(pool: &PgPool, id: &str) -> bool {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    eventually(|| async move {
        sqlx::query_scalar("select published_at is not null from jobs where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .expect("query")
    })
    .await
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_submitted_job_is_published_with_its_id_and_type(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let job = app.submitted_job(&noop()).await;
    let id = job["id"].as_str().expect("id");
    let (data, attributes) = next_message(&app).await;
    assert_eq!(data, json!({"job_id": id, "type": "noop"}));
    assert_eq!(attributes["job_id"], id);
    assert_eq!(attributes["type"], "noop");
    assert!(published_at_is_set(&pool, id).await, "publish not recorded");
}

/// Posts `body` to `path` while inserts are blocked, gives up before the
/// commit, then lets the insert through: the job must still be published
/// by the API, not left to the reconciler's grace.
async fn published_though_the_client_gave_up(pool: PgPool, path: &str, body: Value) {
    let app = spawn_app(pool.clone()).await;
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("lock table jobs in share mode")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let gave_up = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(&app.api_key)
        .json(&body)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(
        gave_up.is_err(),
        "the submit answered while inserts were blocked"
    );
    // Time for the server to see the closed connection and drop the request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.commit().await.expect("release");

    let published = eventually(|| async {
        sqlx::query_scalar::<_, i64>("select count(*) from jobs where published_at is not null")
            .fetch_one(&pool)
            .await
            .expect("count")
            == 1
    })
    .await;
    assert!(published, "the committed job was left to the reconciler");
    let (data, _) = next_message(&app).await;
    assert_eq!(data["type"], "noop");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_job_committed_after_its_client_went_away_is_still_published(pool: PgPool) {
    published_though_the_client_gave_up(pool, "/v1/jobs", noop()).await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_batch_committed_after_its_client_went_away_is_still_published(pool: PgPool) {
    published_though_the_client_gave_up(pool, "/v1/jobs/batch", json!({"jobs": [noop()]})).await;
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_retried_job_is_published_again(pool: PgPool) {
    let app = spawn_app(pool).await;
    let id = app.submitted_job(&noop()).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    next_message(&app).await;
    app.post(&format!("/v1/jobs/{id}/cancel")).await;
    app.post(&format!("/v1/jobs/{id}/retry")).await;
    let (data, _) = next_message(&app).await;
    assert_eq!(data["job_id"], id.as_str());
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn submit_answers_202_when_pub_sub_is_unreachable_and_the_job_stays_unpublished(
    pool: PgPool,
) {
    let app = spawn_app(pool.clone()).await;
    // Nothing listens on port 1: every publish fails.
    let address = serve(pool.clone(), &pubsub_settings("127.0.0.1:1")).await;
    let response = app
        .client
        .post(format!("{address}/v1/jobs"))
        .bearer_auth(&app.api_key)
        .json(&noop())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 202);
    let job: Value = response.json().await.expect("json");
    let stored: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select published_at from jobs where id = $1")
            .bind(uuid::Uuid::parse_str(job["id"].as_str().expect("id")).expect("uuid"))
            .fetch_one(&pool)
            .await
            .expect("query");
    assert_eq!(stored, None, "the reconciler will publish it");
}

#[sqlx::test(migrator = "jobs_domain::db::MIGRATOR")]
async fn a_stopping_api_sends_and_confirms_every_publish_it_handed_off(pool: PgPool) {
    let emulator = pubsub_emulator::Emulator::builder()
        .bind("127.0.0.1:0")
        .setup(pubsub_emulator::Setup::new().subscription(
            pubsub_emulator::SubscriptionSetup::pull(TAP_SUBSCRIPTION, "jobs"),
        ))
        .start()
        .await
        .expect("emulator");
    let key = jobs_domain::api_keys::create_key(&pool, "acme")
        .await
        .expect("key")
        .key;
    let settings = test_settings(&pubsub_settings(&emulator.host()), &[]);
    let app = jobs_api::startup::build_on(&settings, pool.clone())
        .await
        .expect("the API builds");
    let url = format!("http://127.0.0.1:{}/v1/jobs", app.port());
    let (stop, stopping) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until_stopped(async {
        let _ = stopping.await;
    }));
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let response = client
            .post(&url)
            .bearer_auth(&key)
            .json(&noop())
            .send()
            .await
            .expect("submit");
        assert_eq!(response.status(), 202);
    }

    let _ = stop.send(());
    serving.await.expect("joined").expect("served");

    // Checked the moment the server returned: the stop hook waited for Pub/Sub
    // and wrote every confirmation, so none is left for the reconciler.
    let unconfirmed: i64 =
        sqlx::query_scalar("select count(*) from jobs where published_at is null")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(unconfirmed, 0);
}

//! Shared by the integration tests: an emulator per test on port 0, the
//! official clients pointed at it with anonymous credentials, and a push receiver.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use google_cloud_auth::credentials::{Credentials, anonymous};
use google_cloud_pubsub::client::{Publisher, Subscriber, SubscriptionAdmin, TopicAdmin};
use googleapis_tonic_google_pubsub_v1::google::pubsub::v1::publisher_client::PublisherClient;
use googleapis_tonic_google_pubsub_v1::google::pubsub::v1::subscriber_client::SubscriberClient;
use pubsub_emulator::{Emulator, RunningEmulator, Setup};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tonic::transport::Channel;

/// Only a guard against hangs: no test's verdict depends on it.
pub const GUARD: Duration = Duration::from_secs(60);

/// The project every test uses.
pub const PROJECT: &str = "test-project";

/// `projects/test-project/topics/{id}`.
pub fn topic(id: &str) -> String {
    format!("projects/{PROJECT}/topics/{id}")
}

/// `projects/test-project/subscriptions/{id}`.
pub fn subscription(id: &str) -> String {
    format!("projects/{PROJECT}/subscriptions/{id}")
}

/// An emulator on a free port.
pub async fn start(time_scale: f64, setup: Setup) -> RunningEmulator {
    Emulator::builder()
        .bind("127.0.0.1:0")
        .project(PROJECT)
        .time_scale(time_scale)
        .setup(setup)
        .start()
        .await
        .expect("the emulator starts")
}

/// What `PUBSUB_EMULATOR_HOST` maps to: no Google credentials at all.
pub fn anonymous() -> Credentials {
    anonymous::Builder::new().build()
}

/// The official REST topic admin client.
pub async fn topic_admin(emulator: &RunningEmulator) -> TopicAdmin {
    TopicAdmin::builder()
        .with_endpoint(emulator.endpoint())
        .with_credentials(anonymous())
        .build()
        .await
        .expect("topic admin client")
}

/// The official REST subscription admin client.
pub async fn subscription_admin(emulator: &RunningEmulator) -> SubscriptionAdmin {
    SubscriptionAdmin::builder()
        .with_endpoint(emulator.endpoint())
        .with_credentials(anonymous())
        .build()
        .await
        .expect("subscription admin client")
}

/// The official gRPC publisher for `topic`.
pub async fn publisher(emulator: &RunningEmulator, topic: &str) -> Publisher {
    Publisher::builder(topic)
        .with_endpoint(emulator.endpoint())
        .with_credentials(anonymous())
        .build()
        .await
        .expect("publisher client")
}

/// The official gRPC streaming-pull subscriber.
pub async fn subscriber(emulator: &RunningEmulator) -> Subscriber {
    Subscriber::builder()
        .with_endpoint(emulator.endpoint())
        .with_credentials(anonymous())
        .build()
        .await
        .expect("subscriber client")
}

async fn channel(emulator: &RunningEmulator) -> Channel {
    Channel::from_shared(emulator.endpoint())
        .expect("endpoint")
        .connect()
        .await
        .expect("gRPC connection")
}

/// A raw gRPC Publisher client, for status codes and calls the official crate hides.
pub async fn grpc_publisher(emulator: &RunningEmulator) -> PublisherClient<Channel> {
    PublisherClient::new(channel(emulator).await)
}

/// A raw gRPC Subscriber client, for unary Pull and status codes.
pub async fn grpc_subscriber(emulator: &RunningEmulator) -> SubscriberClient<Channel> {
    SubscriberClient::new(channel(emulator).await)
}

/// Polls `check` until it holds; panics after [`GUARD`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = Instant::now() + GUARD;
    while !check().await {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How the receiver answers one push request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// Answer with this status.
    Status(u16),
    /// Never answer.
    Hang,
}

/// One push request the receiver got.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// When it arrived.
    pub at: Instant,
    /// The request's `Content-Type`.
    pub content_type: String,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// A local push endpoint that records every request.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/push`.
    pub url: String,
    requests: Arc<Mutex<Vec<PushRequest>>>,
    arrived: Arc<Notify>,
}

impl Receiver {
    /// Starts a receiver whose answer to the n-th request (0-based) is `reply(n)`.
    pub async fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let reply = Arc::new(reply);
        let handler = {
            let requests = Arc::clone(&requests);
            let arrived = Arc::clone(&arrived);
            move |headers: HeaderMap, body: axum::body::Bytes| {
                let requests = Arc::clone(&requests);
                let arrived = Arc::clone(&arrived);
                let reply = Arc::clone(&reply);
                async move {
                    let request = PushRequest {
                        at: Instant::now(),
                        content_type: headers
                            .get(header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned(),
                        body: serde_json::from_slice(&body).expect("the push body is JSON"),
                    };
                    let index = {
                        let mut requests = requests.lock().expect("lock");
                        requests.push(request);
                        requests.len() - 1
                    };
                    arrived.notify_waiters();
                    match reply(index) {
                        Reply::Status(code) => StatusCode::from_u16(code).expect("status"),
                        Reply::Hang => std::future::pending().await,
                    }
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let url = format!("http://{}/push", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            axum::serve(listener, Router::new().route("/push", post(handler)))
                .await
                .expect("receiver serves");
        });
        Self {
            url,
            requests,
            arrived,
        }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<PushRequest> {
        self.requests.lock().expect("lock").clone()
    }

    /// Waits until at least `count` requests arrived and returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<PushRequest> {
        let give_up = Instant::now() + GUARD;
        loop {
            let arrived = self.arrived.notified();
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                tokio::time::timeout_at(give_up, arrived).await.is_ok(),
                "timed out waiting for {count} push requests, got {}",
                requests.len()
            );
        }
    }
}

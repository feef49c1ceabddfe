//! Concurrent publishers to two topics: every message reaches every
//! subscription of its topic exactly once, and no other subscription.

use crate::common::{self, GUARD, Receiver, Reply, grpc_subscriber, start, subscription, topic};
use google_cloud_pubsub::model::Message;
use googleapis_tonic_google_pubsub_v1::google::pubsub::v1 as grpc;
use pubsub_emulator::{RunningEmulator, Setup, SubscriptionSetup};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const PUBLISHERS_PER_TOPIC: usize = 4;
const MESSAGES_PER_PUBLISHER: usize = 500;
const PER_TOPIC: usize = PUBLISHERS_PER_TOPIC * MESSAGES_PER_PUBLISHER;

type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// Two concurrent pullers drain `name` until `expected` distinct messages arrived.
async fn drain(emulator: &RunningEmulator, name: &str, expected: usize) -> HashMap<String, usize> {
    let seen: Seen = Arc::default();
    let mut pullers = Vec::new();
    for _ in 0..2 {
        let mut client = grpc_subscriber(emulator).await;
        let seen = Arc::clone(&seen);
        let name = subscription(name);
        pullers.push(tokio::spawn(async move {
            while seen.lock().expect("lock").len() < expected {
                let response = client
                    .pull(grpc::PullRequest {
                        subscription: name.clone(),
                        max_messages: 250,
                        ..Default::default()
                    })
                    .await
                    .expect("pulled")
                    .into_inner();
                if response.received_messages.is_empty() {
                    continue;
                }
                let mut ack_ids = Vec::new();
                {
                    let mut seen = seen.lock().expect("lock");
                    for received in response.received_messages {
                        let data = received.message.expect("message").data;
                        let data = String::from_utf8(data.to_vec()).expect("utf-8");
                        *seen.entry(data).or_default() += 1;
                        ack_ids.push(received.ack_id);
                    }
                }
                client
                    .acknowledge(grpc::AcknowledgeRequest {
                        subscription: name.clone(),
                        ack_ids,
                    })
                    .await
                    .expect("acked");
            }
        }));
    }
    for puller in pullers {
        tokio::time::timeout(GUARD, puller)
            .await
            .expect("drained in time")
            .expect("puller ran");
    }
    Arc::try_unwrap(seen)
        .expect("pullers finished")
        .into_inner()
        .expect("lock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_lose_nothing_and_cross_no_subscriptions() {
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    let emulator = start(
        1.0,
        Setup::new()
            .subscription(SubscriptionSetup::pull("alpha-pull", "alpha").ack_deadline_seconds(600))
            .subscription(
                SubscriptionSetup::push("alpha-push", "alpha", &receiver.url)
                    .ack_deadline_seconds(600),
            )
            .subscription(SubscriptionSetup::pull("beta-pull", "beta").ack_deadline_seconds(600)),
    )
    .await;

    let mut publishing = Vec::new();
    for topic_id in ["alpha", "beta"] {
        let publisher = common::publisher(&emulator, &topic(topic_id)).await;
        for p in 0..PUBLISHERS_PER_TOPIC {
            let publisher = publisher.clone();
            publishing.push(tokio::spawn(async move {
                let pending: Vec<_> = (0..MESSAGES_PER_PUBLISHER)
                    .map(|i| {
                        publisher.publish(Message::new().set_data(format!("{topic_id}-{p}-{i}")))
                    })
                    .collect();
                for result in futures::future::join_all(pending).await {
                    result.expect("published");
                }
            }));
        }
    }
    let (alpha, beta) = tokio::join!(
        drain(&emulator, "alpha-pull", PER_TOPIC),
        drain(&emulator, "beta-pull", PER_TOPIC)
    );
    for task in publishing {
        task.await.expect("publisher ran");
    }
    let pushed = receiver.wait_for(PER_TOPIC).await;

    let expected = |topic_id: &str| -> Vec<String> {
        let mut all: Vec<String> = (0..PUBLISHERS_PER_TOPIC)
            .flat_map(|p| (0..MESSAGES_PER_PUBLISHER).map(move |i| format!("{topic_id}-{p}-{i}")))
            .collect();
        all.sort();
        all
    };
    let sorted_keys = |seen: &HashMap<String, usize>| {
        let mut keys: Vec<String> = seen.keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(sorted_keys(&alpha), expected("alpha"));
    assert_eq!(sorted_keys(&beta), expected("beta"));
    assert!(
        alpha.values().chain(beta.values()).all(|&n| n == 1),
        "pulled once each"
    );

    common::eventually("every push to be acked", || async {
        emulator.stats().subscription("alpha-push").acks == PER_TOPIC as u64
    })
    .await;
    let mut pushed_data: Vec<String> = receiver
        .requests()
        .iter()
        .map(|request| {
            use base64::Engine as _;
            let data = request.body["message"]["data"].as_str().expect("data");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("base64");
            String::from_utf8(bytes).expect("utf-8")
        })
        .collect();
    assert_eq!(pushed.len(), PER_TOPIC);
    pushed_data.sort();
    assert_eq!(
        pushed_data,
        expected("alpha"),
        "pushed once each, alpha only"
    );

    let stats = emulator.stats();
    assert_eq!(stats.published, 2 * PER_TOPIC as u64);
    assert_eq!(
        stats.total.deliveries,
        3 * PER_TOPIC as u64,
        "no redeliveries"
    );
    assert_eq!(stats.total.backlog, 0);
    emulator.shutdown().await;
}

//! Publishing with the official `Publisher` and receiving on two pull
//! subscriptions: streaming pull (the official `Subscriber`) and unary Pull.

use crate::common::{self, GUARD, grpc_subscriber, start, subscription, topic};
use google_cloud_pubsub::model::Message;
use googleapis_tonic_google_pubsub_v1::google::pubsub::v1 as grpc;
use pubsub_emulator::{Setup, SubscriptionSetup};
use std::collections::HashMap;

const MESSAGES: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_message_reaches_each_pull_subscription_exactly_once() {
    let emulator = start(
        1.0,
        Setup::new()
            .subscription(SubscriptionSetup::pull("streamed", "jobs"))
            .subscription(SubscriptionSetup::pull("pulled", "jobs")),
    )
    .await;
    let publisher = common::publisher(&emulator, &topic("jobs")).await;
    let pending: Vec<_> = (0..MESSAGES)
        .map(|i| {
            publisher.publish(
                Message::new()
                    .set_data(format!("message-{i}"))
                    .set_attributes([("index", i.to_string())])
                    .set_ordering_key(if i.is_multiple_of(2) { "even" } else { "odd" }),
            )
        })
        .collect();
    let mut published = HashMap::new();
    for (i, id) in futures::future::join_all(pending)
        .await
        .into_iter()
        .enumerate()
    {
        published.insert(id.expect("published"), format!("message-{i}"));
    }
    assert_eq!(published.len(), MESSAGES, "message ids are unique");

    let subscriber = common::subscriber(&emulator).await;
    let mut stream = subscriber.subscribe(subscription("streamed")).build();
    let mut streamed: HashMap<String, usize> = HashMap::new();
    tokio::time::timeout(GUARD, async {
        while streamed.len() < MESSAGES {
            let (message, handler) = stream
                .next()
                .await
                .expect("the stream stays open")
                .expect("a message");
            assert_eq!(published[&message.message_id], message.data);
            let index: usize = message.attributes["index"].parse().expect("index");
            assert_eq!(
                message.ordering_key,
                if index.is_multiple_of(2) {
                    "even"
                } else {
                    "odd"
                }
            );
            assert!(message.publish_time.is_some());
            assert_eq!(handler.delivery_attempt(), None, "no dead-letter policy");
            *streamed.entry(message.message_id).or_default() += 1;
            handler.ack();
        }
    })
    .await
    .expect("all messages streamed in time");

    let mut client = grpc_subscriber(&emulator).await;
    let mut pulled: HashMap<String, usize> = HashMap::new();
    tokio::time::timeout(GUARD, async {
        while pulled.len() < MESSAGES {
            let response = client
                .pull(grpc::PullRequest {
                    subscription: subscription("pulled"),
                    max_messages: 100,
                    ..Default::default()
                })
                .await
                .expect("pulled")
                .into_inner();
            let mut ack_ids = Vec::new();
            for received in response.received_messages {
                let message = received.message.expect("message");
                assert_eq!(published[&message.message_id].as_bytes(), &message.data[..]);
                *pulled.entry(message.message_id).or_default() += 1;
                ack_ids.push(received.ack_id);
            }
            client
                .acknowledge(grpc::AcknowledgeRequest {
                    subscription: subscription("pulled"),
                    ack_ids,
                })
                .await
                .expect("acked");
        }
    })
    .await
    .expect("all messages pulled in time");

    assert!(streamed.values().all(|&n| n == 1), "streamed exactly once");
    assert!(pulled.values().all(|&n| n == 1), "pulled exactly once");
    common::eventually("all acks to land", || async {
        let stats = emulator.stats();
        ["streamed", "pulled"]
            .iter()
            .all(|name| stats.subscription(name).acks == MESSAGES as u64)
    })
    .await;
    let stats = emulator.stats();
    for name in ["streamed", "pulled"] {
        let sub = stats.subscription(name);
        assert_eq!(sub.deliveries, MESSAGES as u64, "{name}: no redelivery");
        assert_eq!(sub.backlog, 0, "{name}: nothing left");
    }
    assert_eq!(stats.published, MESSAGES as u64);
    drop(stream);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_nacked_pull_is_redelivered_with_its_delivery_attempt() {
    let emulator = start(
        100.0,
        Setup::new().subscription(
            SubscriptionSetup::pull("work", "jobs").dead_letter("jobs-dead-letter", 5),
        ),
    )
    .await;
    let mut publisher = common::grpc_publisher(&emulator).await;
    publisher
        .publish(grpc::PublishRequest {
            topic: topic("jobs"),
            messages: vec![grpc::PubsubMessage {
                data: "retry me".into(),
                ..Default::default()
            }],
        })
        .await
        .expect("published");
    let mut client = grpc_subscriber(&emulator).await;
    for attempt in 1..=2 {
        let received = loop {
            let response = client
                .pull(grpc::PullRequest {
                    subscription: subscription("work"),
                    max_messages: 10,
                    ..Default::default()
                })
                .await
                .expect("pulled")
                .into_inner();
            if let Some(received) = response.received_messages.into_iter().next() {
                break received;
            }
        };
        assert_eq!(received.delivery_attempt, attempt);
        client
            .modify_ack_deadline(grpc::ModifyAckDeadlineRequest {
                subscription: subscription("work"),
                ack_ids: vec![received.ack_id],
                ack_deadline_seconds: 0,
            })
            .await
            .expect("nacked");
    }
    let stats = emulator.stats().subscription("work");
    assert_eq!((stats.deliveries, stats.nacks), (2, 2));
    emulator.shutdown().await;
}

/// Shorter than the official subscriber's 30 s keepalive, whose empty request
/// would wake the stream by itself and hide a missed wake-up.
const BEFORE_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(20);

#[tokio::test]
async fn a_message_nacked_on_a_stream_comes_back_on_that_stream_when_its_backoff_ends() {
    let emulator = start(
        1.0,
        Setup::new().subscription(
            SubscriptionSetup::pull("work", "jobs")
                .retry(
                    std::time::Duration::from_millis(200),
                    std::time::Duration::from_secs(1),
                )
                .dead_letter("jobs-dead-letter", 5),
        ),
    )
    .await;
    let publisher = common::publisher(&emulator, &topic("jobs")).await;
    publisher
        .publish(Message::new().set_data("retry me"))
        .await
        .expect("published");
    let subscriber = common::subscriber(&emulator).await;
    let mut stream = subscriber.subscribe(subscription("work")).build();
    for attempt in 1..=3 {
        let (message, handler) = tokio::time::timeout(BEFORE_KEEPALIVE, stream.next())
            .await
            .unwrap_or_else(|_| panic!("delivery {attempt} never reached the open stream"))
            .expect("the stream stays open")
            .expect("a message");
        assert_eq!(message.data, "retry me");
        assert_eq!(handler.delivery_attempt(), Some(attempt));
        if attempt < 3 {
            handler.nack();
        } else {
            handler.ack();
        }
    }
    common::eventually("the ack to land", || async {
        emulator.stats().subscription("work").acks == 1
    })
    .await;
    let stats = emulator.stats().subscription("work");
    assert_eq!((stats.deliveries, stats.nacks), (3, 2));
    drop(stream);
    emulator.shutdown().await;
}

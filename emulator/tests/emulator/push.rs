//! Push delivery to a local receiver: the envelope, retry backoff, dead-lettering,
//! and ack-deadline expiry.

use crate::common::{self, Receiver, Reply, start, subscription, topic};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use google_cloud_pubsub::model::{DeadLetterPolicy, Message, PushConfig, RetryPolicy};
use google_cloud_wkt as wkt;
use pubsub_emulator::{Setup, SubscriptionSetup};
use std::time::Duration;

#[tokio::test]
async fn the_push_envelope_carries_the_message_as_pubsub_sends_it() {
    let plain = Receiver::start(|_| Reply::Status(204)).await;
    let counted = Receiver::start(|_| Reply::Status(200)).await;
    let emulator = start(
        1.0,
        Setup::new()
            .subscription(SubscriptionSetup::push("plain", "jobs", &plain.url))
            .subscription(
                SubscriptionSetup::push("counted", "jobs", &counted.url)
                    .dead_letter("jobs-dead-letter", 5),
            ),
    )
    .await;
    let publisher = common::publisher(&emulator, &topic("jobs")).await;
    let data = br#"{"job_id":"0190-abc","type":"noop"}"#;
    let message_id = publisher
        .publish(
            Message::new()
                .set_data(&data[..])
                .set_attributes([("job_id", "0190-abc"), ("type", "noop")]),
        )
        .await
        .expect("published");

    let request = plain.wait_for(1).await.remove(0);
    assert_eq!(request.content_type, "application/json");
    let body = &request.body;
    assert_eq!(body["subscription"], subscription("plain"));
    let message = &body["message"];
    let decoded = STANDARD
        .decode(message["data"].as_str().expect("data is a string"))
        .expect("data is base64");
    assert_eq!(decoded, data);
    assert_eq!(message["attributes"]["job_id"], "0190-abc");
    assert_eq!(message["attributes"]["type"], "noop");
    assert_eq!(message["messageId"], message_id);
    assert_eq!(message["message_id"], message_id);
    let publish_time = message["publishTime"].as_str().expect("publishTime");
    assert_eq!(message["publish_time"], publish_time);
    chrono::DateTime::parse_from_rfc3339(publish_time).expect("publishTime is RFC 3339");
    assert!(
        body.get("deliveryAttempt").is_none(),
        "deliveryAttempt only with a dead-letter policy"
    );

    let counted_request = counted.wait_for(1).await.remove(0);
    assert_eq!(counted_request.body["deliveryAttempt"], 1);
    assert_eq!(counted_request.body["message"]["messageId"], message_id);

    common::eventually("both pushes to be acked", || async {
        let stats = emulator.stats();
        stats.subscription("plain").acks == 1 && stats.subscription("counted").acks == 1
    })
    .await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_growing_backoff_until_it_acks() {
    let receiver = Receiver::start(|n| Reply::Status(if n < 2 { 500 } else { 204 })).await;
    // 20 s and 40 s backoffs shrink to 400 ms and 800 ms.
    let emulator = start(
        50.0,
        Setup::new().subscription(
            SubscriptionSetup::push("jobs-worker", "jobs", &receiver.url)
                .ack_deadline_seconds(600)
                .retry(Duration::from_secs(20), Duration::from_secs(600)),
        ),
    )
    .await;
    let publisher = common::publisher(&emulator, &topic("jobs")).await;
    publisher
        .publish(Message::new().set_data("flaky"))
        .await
        .expect("published");

    let requests = receiver.wait_for(3).await;
    common::eventually("the third delivery to be acked", || async {
        let stats = emulator.stats().subscription("jobs-worker");
        stats.acks == 1 && stats.backlog == 0
    })
    .await;
    let requests_after_ack = receiver.requests();
    assert_eq!(
        requests_after_ack.len(),
        3,
        "acked after exactly three deliveries"
    );
    let first_gap = requests[1].at - requests[0].at;
    let second_gap = requests[2].at - requests[1].at;
    assert!(
        second_gap > first_gap,
        "backoff grows: {first_gap:?} then {second_gap:?}"
    );
    let stats = emulator.stats().subscription("jobs-worker");
    assert_eq!((stats.deliveries, stats.nacks, stats.acks), (3, 2, 1));
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_that_always_fails_gets_max_attempts_then_the_message_is_dead_lettered() {
    let receiver = Receiver::start(|_| Reply::Status(503)).await;
    let emulator = start(
        100.0,
        Setup::new()
            .topic("jobs")
            .subscription(SubscriptionSetup::pull("dead-letters", "jobs-dead-letter")),
    )
    .await;
    let admin = common::subscription_admin(&emulator).await;
    admin
        .create_subscription()
        .set_name(subscription("jobs-worker"))
        .set_topic(topic("jobs"))
        .set_push_config(PushConfig::new().set_push_endpoint(&receiver.url))
        .set_retry_policy(
            RetryPolicy::new()
                .set_minimum_backoff(wkt::Duration::clamp(1, 0))
                .set_maximum_backoff(wkt::Duration::clamp(10, 0)),
        )
        .set_dead_letter_policy(
            DeadLetterPolicy::new()
                .set_dead_letter_topic(topic("jobs-dead-letter"))
                .set_max_delivery_attempts(5),
        )
        .send()
        .await
        .expect("created");
    let publisher = common::publisher(&emulator, &topic("jobs")).await;
    let message_id = publisher
        .publish(
            Message::new()
                .set_data("doomed")
                .set_attributes([("job_id", "42")]),
        )
        .await
        .expect("published");

    let subscriber = common::subscriber(&emulator).await;
    let mut dead_letters = subscriber.subscribe(subscription("dead-letters")).build();
    let (dead, handler) = tokio::time::timeout(common::GUARD, dead_letters.next())
        .await
        .expect("dead-lettered in time")
        .expect("stream open")
        .expect("a message");
    handler.ack();
    assert_eq!(dead.data, "doomed");
    assert_ne!(
        dead.message_id, message_id,
        "the dead-letter topic assigns its own id"
    );
    assert_eq!(dead.attributes["job_id"], "42");
    assert_eq!(
        dead.attributes["CloudPubSubDeadLetterSourceDeliveryCount"],
        "5"
    );
    assert_eq!(
        dead.attributes["CloudPubSubDeadLetterSourceSubscription"],
        "jobs-worker"
    );
    assert_eq!(
        dead.attributes["CloudPubSubDeadLetterSourceSubscriptionProject"],
        common::PROJECT
    );
    chrono::DateTime::parse_from_rfc3339(
        &dead.attributes["CloudPubSubDeadLetterSourceTopicPublishTime"],
    )
    .expect("the source publish time is RFC 3339");

    let requests = receiver.requests();
    let attempts: Vec<_> = requests
        .iter()
        .map(|r| r.body["deliveryAttempt"].as_i64().expect("deliveryAttempt"))
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5]);
    let stats = emulator.stats().subscription("jobs-worker");
    assert_eq!(
        (
            stats.deliveries,
            stats.nacks,
            stats.dead_lettered,
            stats.backlog
        ),
        (5, 5, 1, 0)
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_that_never_answers_is_nacked_at_the_ack_deadline_and_redelivered() {
    let receiver = Receiver::start(|n| {
        if n == 0 {
            Reply::Hang
        } else {
            Reply::Status(204)
        }
    })
    .await;
    // The 10 s ack deadline shrinks to 1 s.
    let emulator = start(
        10.0,
        Setup::new().subscription(
            SubscriptionSetup::push("jobs-worker", "jobs", &receiver.url).ack_deadline_seconds(10),
        ),
    )
    .await;
    let publisher = common::publisher(&emulator, &topic("jobs")).await;
    publisher
        .publish(Message::new().set_data("slow"))
        .await
        .expect("published");

    let requests = receiver.wait_for(2).await;
    assert_eq!(requests[0].body["message"], requests[1].body["message"]);
    common::eventually("the redelivery to be acked", || async {
        emulator.stats().subscription("jobs-worker").acks == 1
    })
    .await;
    let stats = emulator.stats().subscription("jobs-worker");
    assert_eq!(
        (stats.deliveries, stats.expired, stats.acks, stats.backlog),
        (2, 1, 1, 0)
    );
    emulator.shutdown().await;
}

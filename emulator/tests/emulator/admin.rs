//! Topic and subscription administration through the official clients (REST)
//! and raw gRPC, including the status codes Pub/Sub answers with.

use crate::common::{self, PROJECT, grpc_publisher, grpc_subscriber, start, subscription, topic};
use google_cloud_gax::error::rpc::Code;
use google_cloud_pubsub::model::{DeadLetterPolicy, PushConfig, RetryPolicy, Subscription};
use google_cloud_wkt as wkt;
use googleapis_tonic_google_pubsub_v1::google::pubsub::v1 as grpc;
use googleapis_tonic_google_pubsub_v1::google::pubsub::v1::schema_service_client::SchemaServiceClient;
use pubsub_emulator::Setup;

fn code<T: std::fmt::Debug>(result: Result<T, google_cloud_pubsub::Error>) -> Code {
    result
        .expect_err("the call fails")
        .status()
        .map(|status| status.code)
        .expect("a service error with a status")
}

fn grpc_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> tonic::Code {
    result.expect_err("the call fails").code()
}

#[tokio::test]
async fn topics_are_created_read_listed_and_deleted_with_the_official_rest_client() {
    let emulator = start(1.0, Setup::new()).await;
    let admin = common::topic_admin(&emulator).await;

    for id in ["alpha", "beta", "gamma"] {
        let created = admin
            .create_topic()
            .set_name(topic(id))
            .set_labels([("team", "jobs")])
            .send()
            .await
            .expect("created");
        assert_eq!(created.name, topic(id));
        assert_eq!(created.labels["team"], "jobs");
    }
    let fetched = admin
        .get_topic()
        .set_topic(topic("beta"))
        .send()
        .await
        .expect("fetched");
    assert_eq!(fetched.name, topic("beta"));

    let first = admin
        .list_topics()
        .set_project(format!("projects/{PROJECT}"))
        .set_page_size(2)
        .send()
        .await
        .expect("listed");
    let names: Vec<_> = first.topics.iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, [topic("alpha"), topic("beta")]);
    let second = admin
        .list_topics()
        .set_project(format!("projects/{PROJECT}"))
        .set_page_token(first.next_page_token)
        .send()
        .await
        .expect("listed");
    assert_eq!(second.topics.len(), 1);
    assert!(second.next_page_token.is_empty());

    admin
        .delete_topic()
        .set_topic(topic("alpha"))
        .send()
        .await
        .expect("deleted");
    assert_eq!(
        code(admin.get_topic().set_topic(topic("alpha")).send().await),
        Code::NotFound
    );
    assert_eq!(
        code(admin.delete_topic().set_topic(topic("alpha")).send().await),
        Code::NotFound
    );
    assert_eq!(
        code(admin.create_topic().set_name(topic("beta")).send().await),
        Code::AlreadyExists
    );
    for bad in ["go", "googles", "9lives", "bad*char"] {
        assert_eq!(
            code(admin.create_topic().set_name(topic(bad)).send().await),
            Code::InvalidArgument,
            "{bad}"
        );
    }
    emulator.shutdown().await;
}

#[tokio::test]
async fn subscriptions_are_created_read_updated_and_deleted_with_the_official_rest_client() {
    let emulator = start(1.0, Setup::new().topic("jobs").topic("jobs-dead-letter")).await;
    let admin = common::subscription_admin(&emulator).await;

    let created = admin
        .create_subscription()
        .set_name(subscription("jobs-worker"))
        .set_topic(topic("jobs"))
        .set_ack_deadline_seconds(600)
        .set_push_config(PushConfig::new().set_push_endpoint("http://127.0.0.1:9/pubsub/push"))
        .set_retry_policy(
            RetryPolicy::new()
                .set_minimum_backoff(wkt::Duration::clamp(10, 0))
                .set_maximum_backoff(wkt::Duration::clamp(600, 0)),
        )
        .set_dead_letter_policy(
            DeadLetterPolicy::new()
                .set_dead_letter_topic(topic("jobs-dead-letter"))
                .set_max_delivery_attempts(5),
        )
        .send()
        .await
        .expect("created");
    let fetched = admin
        .get_subscription()
        .set_subscription(subscription("jobs-worker"))
        .send()
        .await
        .expect("fetched");
    assert_eq!(fetched, created);
    assert_eq!(fetched.ack_deadline_seconds, 600);
    assert_eq!(
        fetched
            .push_config
            .as_ref()
            .map(|p| p.push_endpoint.as_str()),
        Some("http://127.0.0.1:9/pubsub/push")
    );
    let retry = fetched.retry_policy.expect("retry policy");
    assert_eq!(retry.minimum_backoff, Some(wkt::Duration::clamp(10, 0)));
    assert_eq!(retry.maximum_backoff, Some(wkt::Duration::clamp(600, 0)));
    let dead_letter = fetched.dead_letter_policy.expect("dead-letter policy");
    assert_eq!(dead_letter.max_delivery_attempts, 5);

    admin
        .create_subscription()
        .set_name(subscription("audit"))
        .set_topic(topic("jobs"))
        .send()
        .await
        .expect("created");
    let listed = admin
        .list_subscriptions()
        .set_project(format!("projects/{PROJECT}"))
        .send()
        .await
        .expect("listed");
    let names: Vec<_> = listed
        .subscriptions
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, [subscription("audit"), subscription("jobs-worker")]);
    let topic_admin = common::topic_admin(&emulator).await;
    let attached = topic_admin
        .list_topic_subscriptions()
        .set_topic(topic("jobs"))
        .send()
        .await
        .expect("listed");
    assert_eq!(
        attached.subscriptions,
        [subscription("audit"), subscription("jobs-worker")]
    );

    admin
        .modify_push_config()
        .set_subscription(subscription("audit"))
        .set_push_config(PushConfig::new().set_push_endpoint("http://127.0.0.1:9/audit"))
        .send()
        .await
        .expect("modified");
    let updated = admin
        .update_subscription()
        .set_subscription(
            Subscription::new()
                .set_name(subscription("audit"))
                .set_ack_deadline_seconds(42),
        )
        .set_update_mask(wkt::FieldMask::default().set_paths(["ack_deadline_seconds"]))
        .send()
        .await
        .expect("updated");
    assert_eq!(updated.ack_deadline_seconds, 42);
    assert_eq!(
        updated.push_config.map(|p| p.push_endpoint),
        Some("http://127.0.0.1:9/audit".to_owned())
    );

    assert_eq!(
        code(
            admin
                .create_subscription()
                .set_name(subscription("audit"))
                .set_topic(topic("jobs"))
                .send()
                .await
        ),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            admin
                .create_subscription()
                .set_name(subscription("orphan"))
                .set_topic(topic("missing"))
                .send()
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            admin
                .create_subscription()
                .set_name(subscription("filtered"))
                .set_topic(topic("jobs"))
                .set_filter("attributes.type = \"http\"")
                .send()
                .await
        ),
        Code::Unimplemented
    );
    assert_eq!(
        code(
            admin
                .create_subscription()
                .set_name(subscription("slow"))
                .set_topic(topic("jobs"))
                .set_ack_deadline_seconds(601)
                .send()
                .await
        ),
        Code::InvalidArgument
    );

    admin
        .delete_subscription()
        .set_subscription(subscription("audit"))
        .send()
        .await
        .expect("deleted");
    assert_eq!(
        code(
            admin
                .get_subscription()
                .set_subscription(subscription("audit"))
                .send()
                .await
        ),
        Code::NotFound
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn grpc_calls_answer_pubsubs_status_codes_and_clear_messages() {
    let emulator = start(1.0, Setup::new().topic("jobs")).await;
    let mut publisher = grpc_publisher(&emulator).await;
    let mut subscriber = grpc_subscriber(&emulator).await;

    let duplicate = publisher
        .create_topic(grpc::Topic {
            name: topic("jobs"),
            ..Default::default()
        })
        .await
        .expect_err("exists");
    assert_eq!(duplicate.code(), tonic::Code::AlreadyExists);
    assert_eq!(
        duplicate.message(),
        "Resource already exists in the project (resource=jobs)."
    );

    let missing = publisher
        .get_topic(grpc::GetTopicRequest {
            topic: topic("nope"),
        })
        .await
        .expect_err("missing");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert_eq!(missing.message(), "Resource not found (resource=nope).");

    let bad_name = publisher
        .create_topic(grpc::Topic {
            name: "projects/p/topics/goog-reserved".into(),
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    assert_eq!(bad_name.code(), tonic::Code::InvalidArgument);
    assert!(
        bad_name.message().contains("Invalid [topics] name"),
        "{}",
        bad_name.message()
    );
    assert_eq!(
        grpc_code(
            publisher
                .create_topic(grpc::Topic {
                    name: "topics/jobs".into(),
                    ..Default::default()
                })
                .await
        ),
        tonic::Code::InvalidArgument
    );
    assert_eq!(
        grpc_code(
            publisher
                .publish(grpc::PublishRequest {
                    topic: topic("nope"),
                    messages: vec![grpc::PubsubMessage {
                        data: "x".into(),
                        ..Default::default()
                    }],
                })
                .await
        ),
        tonic::Code::NotFound
    );
    assert_eq!(
        grpc_code(
            publisher
                .publish(grpc::PublishRequest {
                    topic: topic("jobs"),
                    messages: vec![grpc::PubsubMessage::default()],
                })
                .await
        ),
        tonic::Code::InvalidArgument,
        "a message needs data or attributes"
    );
    assert_eq!(
        grpc_code(
            subscriber
                .create_subscription(grpc::Subscription {
                    name: subscription("orphan"),
                    topic: topic("nope"),
                    ..Default::default()
                })
                .await
        ),
        tonic::Code::NotFound
    );
    assert_eq!(
        grpc_code(
            subscriber
                .pull(grpc::PullRequest {
                    subscription: subscription("nope"),
                    max_messages: 1,
                    ..Default::default()
                })
                .await
        ),
        tonic::Code::NotFound
    );
    let seek = subscriber
        .seek(grpc::SeekRequest {
            subscription: subscription("nope"),
            ..Default::default()
        })
        .await
        .expect_err("not implemented");
    assert_eq!(seek.code(), tonic::Code::Unimplemented);
    assert!(seek.message().contains("Seek"), "{}", seek.message());

    let mut schemas = SchemaServiceClient::new(
        tonic::transport::Channel::from_shared(emulator.endpoint())
            .expect("endpoint")
            .connect()
            .await
            .expect("connection"),
    );
    assert_eq!(
        grpc_code(
            schemas
                .list_schemas(grpc::ListSchemasRequest {
                    parent: format!("projects/{PROJECT}"),
                    ..Default::default()
                })
                .await
        ),
        tonic::Code::Unimplemented,
        "a service the emulator lacks answers UNIMPLEMENTED, not a hang"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn deleting_a_topic_detaches_its_subscriptions() {
    let emulator = start(
        1.0,
        Setup::new().subscription(pubsub_emulator::SubscriptionSetup::pull("audit", "jobs")),
    )
    .await;
    let mut publisher = grpc_publisher(&emulator).await;
    let mut subscriber = grpc_subscriber(&emulator).await;
    publisher
        .delete_topic(grpc::DeleteTopicRequest {
            topic: topic("jobs"),
        })
        .await
        .expect("deleted");
    let sub = subscriber
        .get_subscription(grpc::GetSubscriptionRequest {
            subscription: subscription("audit"),
        })
        .await
        .expect("still there")
        .into_inner();
    assert_eq!(sub.topic, "_deleted-topic_");
    emulator.shutdown().await;
}

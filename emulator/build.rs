//! Generates the tonic server traits for `google.pubsub.v1.Publisher` and
//! `google.pubsub.v1.Subscriber`.
//!
//! Why `tonic_build::manual` instead of compiling `.proto` files: no `protoc`
//! is needed, no third-party protos are vendored into this repository, and the
//! message types come from `googleapis-tonic-google-pubsub-v1`, which tracks
//! the same API revision as the official `google-cloud-pubsub` client. Only the
//! RPC table (names and request/response types) is declared here.

use tonic_build::manual::{Builder, Method, Service};

/// Where the prost message types live.
const TYPES: &str = "googleapis_tonic_google_pubsub_v1::google::pubsub::v1";

/// How an RPC streams.
#[derive(Clone, Copy)]
enum Shape {
    Unary,
    Bidi,
}

/// `google.protobuf.Empty`; tonic's manual builder needs a path, not `()`.
const EMPTY: &str = "crate::proto::Empty";

/// Declares one RPC; `output` of `Empty` is `google.protobuf.Empty`.
fn method(route: &str, input: &str, output: &str, shape: Shape) -> Method {
    let qualify = |name: &str| {
        if name == "Empty" {
            EMPTY.to_owned()
        } else {
            format!("{TYPES}::{name}")
        }
    };
    let builder = Method::builder()
        .name(snake_case(route))
        .route_name(route)
        .input_type(qualify(input))
        .output_type(qualify(output))
        .codec_path("tonic_prost::ProstCodec");
    match shape {
        Shape::Unary => builder.build(),
        Shape::Bidi => builder.client_streaming().server_streaming().build(),
    }
}

/// `StreamingPull` -> `streaming_pull`.
fn snake_case(route: &str) -> String {
    let mut out = String::new();
    for (i, c) in route.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn service(name: &str, methods: &[(&str, &str, &str, Shape)]) -> Service {
    methods
        .iter()
        .fold(
            Service::builder().name(name).package("google.pubsub.v1"),
            |builder, &(route, input, output, shape)| {
                builder.method(method(route, input, output, shape))
            },
        )
        .build()
}

fn main() {
    use Shape::{Bidi, Unary};
    let publisher = service(
        "Publisher",
        &[
            ("CreateTopic", "Topic", "Topic", Unary),
            ("UpdateTopic", "UpdateTopicRequest", "Topic", Unary),
            ("Publish", "PublishRequest", "PublishResponse", Unary),
            ("GetTopic", "GetTopicRequest", "Topic", Unary),
            (
                "ListTopics",
                "ListTopicsRequest",
                "ListTopicsResponse",
                Unary,
            ),
            (
                "ListTopicSubscriptions",
                "ListTopicSubscriptionsRequest",
                "ListTopicSubscriptionsResponse",
                Unary,
            ),
            (
                "ListTopicSnapshots",
                "ListTopicSnapshotsRequest",
                "ListTopicSnapshotsResponse",
                Unary,
            ),
            ("DeleteTopic", "DeleteTopicRequest", "Empty", Unary),
            (
                "DetachSubscription",
                "DetachSubscriptionRequest",
                "DetachSubscriptionResponse",
                Unary,
            ),
        ],
    );
    let subscriber = service(
        "Subscriber",
        &[
            ("CreateSubscription", "Subscription", "Subscription", Unary),
            (
                "GetSubscription",
                "GetSubscriptionRequest",
                "Subscription",
                Unary,
            ),
            (
                "UpdateSubscription",
                "UpdateSubscriptionRequest",
                "Subscription",
                Unary,
            ),
            (
                "ListSubscriptions",
                "ListSubscriptionsRequest",
                "ListSubscriptionsResponse",
                Unary,
            ),
            (
                "DeleteSubscription",
                "DeleteSubscriptionRequest",
                "Empty",
                Unary,
            ),
            (
                "ModifyAckDeadline",
                "ModifyAckDeadlineRequest",
                "Empty",
                Unary,
            ),
            ("Acknowledge", "AcknowledgeRequest", "Empty", Unary),
            ("Pull", "PullRequest", "PullResponse", Unary),
            (
                "StreamingPull",
                "StreamingPullRequest",
                "StreamingPullResponse",
                Bidi,
            ),
            (
                "ModifyPushConfig",
                "ModifyPushConfigRequest",
                "Empty",
                Unary,
            ),
            ("GetSnapshot", "GetSnapshotRequest", "Snapshot", Unary),
            (
                "ListSnapshots",
                "ListSnapshotsRequest",
                "ListSnapshotsResponse",
                Unary,
            ),
            ("CreateSnapshot", "CreateSnapshotRequest", "Snapshot", Unary),
            ("UpdateSnapshot", "UpdateSnapshotRequest", "Snapshot", Unary),
            ("DeleteSnapshot", "DeleteSnapshotRequest", "Empty", Unary),
            ("Seek", "SeekRequest", "SeekResponse", Unary),
        ],
    );
    Builder::new()
        .build_client(false)
        .build_transport(false)
        .compile(&[publisher, subscriber]);
}

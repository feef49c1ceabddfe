//! The JSON body Pub/Sub POSTs to a push endpoint.

use crate::proto::PubsubMessage;
use crate::wire_time;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Serialize)]
struct Envelope<'a> {
    message: EnvelopeMessage<'a>,
    subscription: &'a str,
    #[serde(rename = "deliveryAttempt", skip_serializing_if = "Option::is_none")]
    delivery_attempt: Option<u32>,
}

/// Pub/Sub sends both the camelCase and the snake_case spelling of the id and time.
#[derive(Serialize)]
struct EnvelopeMessage<'a> {
    data: String,
    attributes: &'a HashMap<String, String>,
    #[serde(rename = "messageId")]
    message_id_camel: &'a str,
    message_id: &'a str,
    #[serde(rename = "publishTime")]
    publish_time_camel: &'a str,
    publish_time: &'a str,
    #[serde(rename = "orderingKey", skip_serializing_if = "str::is_empty")]
    ordering_key: &'a str,
}

/// The push body for `message` on `subscription`; `delivery_attempt` is set
/// only when the subscription has a dead-letter policy.
pub fn push_body(
    message: &PubsubMessage,
    subscription: &str,
    delivery_attempt: Option<u32>,
) -> Vec<u8> {
    let publish_time = wire_time::rfc3339(message.publish_time.as_ref());
    let envelope = Envelope {
        message: EnvelopeMessage {
            data: STANDARD.encode(&message.data),
            attributes: &message.attributes,
            message_id_camel: &message.message_id,
            message_id: &message.message_id,
            publish_time_camel: &publish_time,
            publish_time: &publish_time,
            ordering_key: &message.ordering_key,
        },
        subscription,
        delivery_attempt,
    };
    serde_json::to_vec(&envelope).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_has_pubsubs_shape() {
        let message = PubsubMessage {
            data: "hi".into(),
            attributes: [("k".to_owned(), "v".to_owned())].into(),
            message_id: "7".into(),
            publish_time: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            ordering_key: String::new(),
        };
        let body = push_body(&message, "projects/p/subscriptions/s", Some(2));
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "message": {
                    "data": "aGk=",
                    "attributes": {"k": "v"},
                    "messageId": "7",
                    "message_id": "7",
                    "publishTime": "1970-01-01T00:00:00Z",
                    "publish_time": "1970-01-01T00:00:00Z"
                },
                "subscription": "projects/p/subscriptions/s",
                "deliveryAttempt": 2
            })
        );
        let without: serde_json::Value =
            serde_json::from_slice(&push_body(&message, "s", None)).expect("json");
        assert!(without.get("deliveryAttempt").is_none());
    }
}

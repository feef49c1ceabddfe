//! Pub/Sub's REST/JSON bodies (camelCase, base64 data, `"10s"` durations) and
//! their conversion to and from the gRPC message types.

use crate::error::{Error, Result};
use crate::proto::{
    self, DeadLetterPolicy, ExpirationPolicy, PubsubMessage, PushConfig, ReceivedMessage,
    RetryPolicy, Subscription, Topic, push_config,
};
use crate::wire_time;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

/// How enums are written: `$alt=json;enum-encoding=int` asks for numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnumEncoding {
    /// `"ACTIVE"`.
    Name,
    /// `1`.
    Int,
}

impl EnumEncoding {
    fn state(self, value: i32, name: &str) -> Option<Value> {
        (value != 0).then(|| match self {
            Self::Int => Value::from(value),
            Self::Name => Value::from(name),
        })
    }
}

/// A topic.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    labels: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_retention_duration: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    kms_key_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<Value>,
    #[serde(skip_serializing)]
    schema_settings: Option<Value>,
    #[serde(skip_serializing)]
    ingestion_data_source_settings: Option<Value>,
    #[serde(skip_serializing)]
    message_transforms: Vec<Value>,
}

impl TopicJson {
    /// The gRPC topic named `name` (the URL path wins over the body).
    pub fn into_proto(self, name: String) -> Result<Topic> {
        Ok(Topic {
            name,
            labels: self.labels,
            message_retention_duration: parse_optional_duration(
                self.message_retention_duration,
                "topic.message_retention_duration",
            )?,
            kms_key_name: self.kms_key_name,
            // Present-but-unsupported settings are kept as markers so validation rejects them.
            schema_settings: self
                .schema_settings
                .map(|_| proto::SchemaSettings::default()),
            ingestion_data_source_settings: self
                .ingestion_data_source_settings
                .map(|_| proto::IngestionDataSourceSettings::default()),
            message_transforms: self
                .message_transforms
                .iter()
                .map(|_| proto::MessageTransform::default())
                .collect(),
            ..Default::default()
        })
    }

    /// The JSON form of a topic.
    pub fn from_proto(topic: Topic, enums: EnumEncoding) -> Self {
        Self {
            state: enums.state(topic.state, "ACTIVE"),
            name: topic.name,
            labels: topic.labels,
            message_retention_duration: topic
                .message_retention_duration
                .as_ref()
                .map(wire_time::format_duration),
            kms_key_name: topic.kms_key_name,
            ..Default::default()
        }
    }
}

/// A subscription.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    topic: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_config: Option<PushConfigJson>,
    #[serde(skip_serializing_if = "is_zero")]
    ack_deadline_seconds: i32,
    #[serde(skip_serializing_if = "is_false")]
    retain_acked_messages: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_retention_duration: Option<String>,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    labels: HashMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    enable_message_ordering: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_policy: Option<ExpirationPolicyJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    filter: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    dead_letter_policy: Option<DeadLetterPolicyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_policy: Option<RetryPolicyJson>,
    #[serde(skip_serializing_if = "is_false")]
    detached: bool,
    #[serde(skip_serializing_if = "is_false")]
    enable_exactly_once_delivery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<Value>,
    #[serde(skip_serializing)]
    bigquery_config: Option<Value>,
    #[serde(skip_serializing)]
    cloud_storage_config: Option<Value>,
    #[serde(skip_serializing)]
    bigtable_config: Option<Value>,
    #[serde(skip_serializing)]
    message_transforms: Vec<Value>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct ExpirationPolicyJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct DeadLetterPolicyJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    dead_letter_topic: String,
    #[serde(skip_serializing_if = "is_zero")]
    max_delivery_attempts: i32,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct RetryPolicyJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_backoff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    maximum_backoff: Option<String>,
}

/// A push configuration.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PushConfigJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    push_endpoint: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    attributes: HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc_token: Option<OidcTokenJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pubsub_wrapper: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    no_wrapper: Option<NoWrapperJson>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct OidcTokenJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    service_account_email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    audience: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct NoWrapperJson {
    #[serde(skip_serializing_if = "is_false")]
    write_metadata: bool,
}

impl SubscriptionJson {
    /// The gRPC subscription named `name` (the URL path wins over the body).
    pub fn into_proto(self, name: String) -> Result<Subscription> {
        let retry_policy = self
            .retry_policy
            .map(|retry| {
                Ok::<_, Error>(RetryPolicy {
                    minimum_backoff: parse_optional_duration(
                        retry.minimum_backoff,
                        "subscription.retry_policy.minimum_backoff",
                    )?,
                    maximum_backoff: parse_optional_duration(
                        retry.maximum_backoff,
                        "subscription.retry_policy.maximum_backoff",
                    )?,
                })
            })
            .transpose()?;
        let expiration_policy = self
            .expiration_policy
            .map(|policy| {
                Ok::<_, Error>(ExpirationPolicy {
                    ttl: parse_optional_duration(policy.ttl, "subscription.expiration_policy.ttl")?,
                })
            })
            .transpose()?;
        Ok(Subscription {
            name,
            topic: self.topic,
            push_config: self.push_config.map(PushConfigJson::into_proto),
            ack_deadline_seconds: self.ack_deadline_seconds,
            retain_acked_messages: self.retain_acked_messages,
            message_retention_duration: parse_optional_duration(
                self.message_retention_duration,
                "subscription.message_retention_duration",
            )?,
            labels: self.labels,
            enable_message_ordering: self.enable_message_ordering,
            expiration_policy,
            filter: self.filter,
            dead_letter_policy: self.dead_letter_policy.map(|policy| DeadLetterPolicy {
                dead_letter_topic: policy.dead_letter_topic,
                max_delivery_attempts: policy.max_delivery_attempts,
            }),
            retry_policy,
            detached: self.detached,
            enable_exactly_once_delivery: self.enable_exactly_once_delivery,
            // Present-but-unsupported settings are kept as markers so validation rejects them.
            bigquery_config: self
                .bigquery_config
                .map(|_| proto::BigQueryConfig::default()),
            cloud_storage_config: self
                .cloud_storage_config
                .map(|_| proto::CloudStorageConfig::default()),
            bigtable_config: self
                .bigtable_config
                .map(|_| proto::BigtableConfig::default()),
            message_transforms: self
                .message_transforms
                .iter()
                .map(|_| proto::MessageTransform::default())
                .collect(),
            ..Default::default()
        })
    }

    /// The JSON form of a subscription.
    pub fn from_proto(sub: Subscription, enums: EnumEncoding) -> Self {
        Self {
            state: enums.state(sub.state, "ACTIVE"),
            name: sub.name,
            topic: sub.topic,
            push_config: sub.push_config.map(PushConfigJson::from_proto),
            ack_deadline_seconds: sub.ack_deadline_seconds,
            retain_acked_messages: sub.retain_acked_messages,
            message_retention_duration: sub
                .message_retention_duration
                .as_ref()
                .map(wire_time::format_duration),
            labels: sub.labels,
            enable_message_ordering: sub.enable_message_ordering,
            expiration_policy: sub.expiration_policy.map(|policy| ExpirationPolicyJson {
                ttl: policy.ttl.as_ref().map(wire_time::format_duration),
            }),
            filter: sub.filter,
            dead_letter_policy: sub.dead_letter_policy.map(|policy| DeadLetterPolicyJson {
                dead_letter_topic: policy.dead_letter_topic,
                max_delivery_attempts: policy.max_delivery_attempts,
            }),
            retry_policy: sub.retry_policy.map(|policy| RetryPolicyJson {
                minimum_backoff: policy
                    .minimum_backoff
                    .as_ref()
                    .map(wire_time::format_duration),
                maximum_backoff: policy
                    .maximum_backoff
                    .as_ref()
                    .map(wire_time::format_duration),
            }),
            detached: sub.detached,
            enable_exactly_once_delivery: sub.enable_exactly_once_delivery,
            ..Default::default()
        }
    }
}

impl PushConfigJson {
    /// The gRPC push config.
    pub fn into_proto(self) -> PushConfig {
        let wrapper = match (self.no_wrapper, self.pubsub_wrapper) {
            (Some(no_wrapper), _) => {
                Some(push_config::Wrapper::NoWrapper(push_config::NoWrapper {
                    write_metadata: no_wrapper.write_metadata,
                }))
            }
            (None, Some(_)) => Some(push_config::Wrapper::PubsubWrapper(
                push_config::PubsubWrapper {},
            )),
            (None, None) => None,
        };
        PushConfig {
            push_endpoint: self.push_endpoint,
            attributes: self.attributes,
            authentication_method: self.oidc_token.map(|token| {
                push_config::AuthenticationMethod::OidcToken(push_config::OidcToken {
                    service_account_email: token.service_account_email,
                    audience: token.audience,
                })
            }),
            wrapper,
        }
    }

    fn from_proto(push: PushConfig) -> Self {
        let (pubsub_wrapper, no_wrapper) = match push.wrapper {
            Some(push_config::Wrapper::PubsubWrapper(_)) => {
                (Some(Value::Object(Default::default())), None)
            }
            Some(push_config::Wrapper::NoWrapper(no_wrapper)) => (
                None,
                Some(NoWrapperJson {
                    write_metadata: no_wrapper.write_metadata,
                }),
            ),
            None => (None, None),
        };
        Self {
            push_endpoint: push.push_endpoint,
            attributes: push.attributes,
            oidc_token: push.authentication_method.map(
                |push_config::AuthenticationMethod::OidcToken(token)| OidcTokenJson {
                    service_account_email: token.service_account_email,
                    audience: token.audience,
                },
            ),
            pubsub_wrapper,
            no_wrapper,
        }
    }
}

/// A message as published or received.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    data: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    attributes: HashMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    message_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_time: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    ordering_key: String,
}

impl MessageJson {
    fn into_proto(self) -> Result<PubsubMessage> {
        let data = decode_base64(&self.data).ok_or_else(|| {
            Error::InvalidArgument(
                "Invalid value at 'messages.data' (TYPE_BYTES): not valid base64".to_owned(),
            )
        })?;
        Ok(PubsubMessage {
            data: data.into(),
            attributes: self.attributes,
            ordering_key: self.ordering_key,
            ..Default::default()
        })
    }

    fn from_proto(message: PubsubMessage) -> Self {
        Self {
            data: STANDARD.encode(&message.data),
            publish_time: Some(wire_time::rfc3339(message.publish_time.as_ref())),
            attributes: message.attributes,
            message_id: message.message_id,
            ordering_key: message.ordering_key,
        }
    }
}

/// `POST …/topics/T:publish`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PublishRequestJson {
    messages: Vec<MessageJson>,
}

impl PublishRequestJson {
    /// The messages to publish.
    pub fn into_messages(self) -> Result<Vec<PubsubMessage>> {
        self.messages
            .into_iter()
            .map(MessageJson::into_proto)
            .collect()
    }
}

/// The answer to a publish.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishResponseJson {
    /// Ids in request order.
    pub message_ids: Vec<String>,
}

/// `POST …/subscriptions/S:pull`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PullRequestJson {
    /// At most this many messages.
    pub max_messages: i32,
    /// Answer at once even when no message is ready.
    pub return_immediately: bool,
}

/// The answer to a pull.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponseJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    received_messages: Vec<ReceivedMessageJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceivedMessageJson {
    ack_id: String,
    message: MessageJson,
    #[serde(skip_serializing_if = "is_zero")]
    delivery_attempt: i32,
}

impl PullResponseJson {
    /// The JSON form of pulled messages.
    pub fn from_proto(received: Vec<ReceivedMessage>) -> Self {
        Self {
            received_messages: received
                .into_iter()
                .map(|received| ReceivedMessageJson {
                    ack_id: received.ack_id,
                    message: MessageJson::from_proto(received.message.unwrap_or_default()),
                    delivery_attempt: received.delivery_attempt,
                })
                .collect(),
        }
    }
}

/// `POST …/subscriptions/S:acknowledge`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AcknowledgeRequestJson {
    /// The leases to ack.
    pub ack_ids: Vec<String>,
}

/// `POST …/subscriptions/S:modifyAckDeadline`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModifyAckDeadlineRequestJson {
    /// The leases to change.
    pub ack_ids: Vec<String>,
    /// The new deadline from now; 0 nacks.
    pub ack_deadline_seconds: i32,
}

/// `POST …/subscriptions/S:modifyPushConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModifyPushConfigRequestJson {
    /// The new push config; absent or without endpoint switches to pull.
    pub push_config: Option<PushConfigJson>,
}

/// `PATCH …/subscriptions/S`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateSubscriptionRequestJson {
    /// The new field values.
    pub subscription: SubscriptionJson,
    /// Comma-separated camelCase field paths.
    pub update_mask: String,
}

impl UpdateSubscriptionRequestJson {
    /// The mask's paths in snake_case, as the gRPC API names them.
    pub fn paths(&self) -> Vec<String> {
        self.update_mask
            .split(',')
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .map(snake_case)
            .collect()
    }
}

/// The answer to listing topics.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTopicsResponseJson {
    /// This page of topics.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicJson>,
    /// Empty on the last page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

/// The answer to listing subscriptions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSubscriptionsResponseJson {
    /// This page of subscriptions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionJson>,
    /// Empty on the last page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

/// The answer to listing a topic's subscription names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTopicSubscriptionsResponseJson {
    /// This page of subscription names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<String>,
    /// Empty on the last page.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next_page_token: String,
}

fn parse_optional_duration(
    text: Option<String>,
    field: &str,
) -> Result<Option<prost_types::Duration>> {
    text.map(|text| {
        wire_time::parse_duration(&text).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "Invalid value at '{field}' (type.googleapis.com/google.protobuf.Duration): \"{text}\""
            ))
        })
    })
    .transpose()
}

/// Proto3 JSON accepts standard and URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// `ackDeadlineSeconds` -> `ack_deadline_seconds`.
fn snake_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_round_trips_through_rest_json() {
        let json = serde_json::json!({
            "topic": "projects/p/topics/jobs",
            "pushConfig": {
                "pushEndpoint": "http://127.0.0.1:8081/pubsub/push",
                "oidcToken": {"serviceAccountEmail": "sa@p.iam.gserviceaccount.com", "audience": "aud"}
            },
            "ackDeadlineSeconds": 600,
            "retryPolicy": {"minimumBackoff": "10s", "maximumBackoff": "600s"},
            "deadLetterPolicy": {"deadLetterTopic": "projects/p/topics/dead", "maxDeliveryAttempts": 5}
        });
        let parsed: SubscriptionJson = serde_json::from_value(json.clone()).expect("parses");
        let sub = parsed
            .into_proto("projects/p/subscriptions/s".into())
            .expect("converts");
        assert_eq!(sub.ack_deadline_seconds, 600);
        assert_eq!(
            sub.retry_policy
                .and_then(|r| r.maximum_backoff)
                .map(|d| d.seconds),
            Some(600)
        );
        let back = serde_json::to_value(SubscriptionJson::from_proto(sub, EnumEncoding::Int))
            .expect("serializes");
        assert_eq!(back["pushConfig"], json["pushConfig"]);
        assert_eq!(back["retryPolicy"], json["retryPolicy"]);
        assert_eq!(back["name"], "projects/p/subscriptions/s");
    }

    #[test]
    fn update_masks_use_grpc_field_names() {
        let request = UpdateSubscriptionRequestJson {
            update_mask: "ackDeadlineSeconds, pushConfig,labels".into(),
            ..Default::default()
        };
        assert_eq!(
            request.paths(),
            ["ack_deadline_seconds", "push_config", "labels"]
        );
    }

    #[test]
    fn message_data_accepts_both_base64_alphabets() {
        assert_eq!(decode_base64("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("-_8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert!(decode_base64("not base64!").is_none());
    }
}

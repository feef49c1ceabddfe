//! Validation and normalization of topic and subscription resources, as Pub/Sub applies them.

use crate::dead_letter::DEFAULT_MAX_DELIVERY_ATTEMPTS;
use crate::error::{Error, Result};
use crate::names;
use crate::proto::{
    PushConfig, RetryPolicy, Subscription, Topic, push_config, subscription, topic,
};

/// Pub/Sub's ack deadline when a subscription leaves it at 0.
pub const DEFAULT_ACK_DEADLINE_SECONDS: i32 = 10;
/// The longest ack deadline Pub/Sub accepts.
pub const MAX_ACK_DEADLINE_SECONDS: i32 = 600;
const MIN_ACK_DEADLINE_SECONDS: i32 = 10;
const MAX_BACKOFF_SECONDS: i64 = 600;

/// Checks a topic to create and fills its output-only fields.
pub fn normalize_topic(mut topic: Topic) -> Result<Topic> {
    names::parse_topic(&topic.name)?;
    if topic.ingestion_data_source_settings.is_some() {
        return Err(unsupported("topic ingestion data sources"));
    }
    if !topic.message_transforms.is_empty() {
        return Err(unsupported("message transforms"));
    }
    if topic.schema_settings.is_some() {
        return Err(unsupported("topic schemas"));
    }
    topic.state = topic::State::Active.into();
    Ok(topic)
}

/// Checks a subscription to create, fills Pub/Sub's defaults and output-only fields.
pub fn normalize_subscription(mut sub: Subscription) -> Result<Subscription> {
    names::parse_subscription(&sub.name)?;
    names::parse_topic(&sub.topic)?;
    if !sub.filter.is_empty() {
        return Err(unsupported("subscription filters"));
    }
    if sub.bigquery_config.is_some()
        || sub.cloud_storage_config.is_some()
        || sub.bigtable_config.is_some()
    {
        return Err(unsupported(
            "BigQuery, Cloud Storage and Bigtable subscriptions",
        ));
    }
    if !sub.message_transforms.is_empty() {
        return Err(unsupported("message transforms"));
    }
    sub.ack_deadline_seconds = normalize_ack_deadline(sub.ack_deadline_seconds)?;
    if let Some(push) = &sub.push_config {
        validate_push_config(push)?;
    }
    if let Some(policy) = sub.retry_policy.take() {
        sub.retry_policy = Some(normalize_retry_policy(policy)?);
    }
    if let Some(policy) = &mut sub.dead_letter_policy {
        names::parse_topic(&policy.dead_letter_topic)?;
        if policy.max_delivery_attempts == 0 {
            policy.max_delivery_attempts = DEFAULT_MAX_DELIVERY_ATTEMPTS;
        }
        if !(5..=100).contains(&policy.max_delivery_attempts) {
            return Err(Error::InvalidArgument(format!(
                "max_delivery_attempts must be between 5 and 100, got {}",
                policy.max_delivery_attempts
            )));
        }
    }
    sub.state = subscription::State::Active.into();
    Ok(sub)
}

/// A push config with an empty endpoint means "pull"; a set one must be `http://`.
pub fn validate_push_config(push: &PushConfig) -> Result<()> {
    if matches!(push.wrapper, Some(push_config::Wrapper::NoWrapper(_))) {
        return Err(unsupported("unwrapped push delivery (no_wrapper)"));
    }
    if push.push_endpoint.is_empty() {
        return Ok(());
    }
    let uri: axum::http::Uri = push.push_endpoint.parse().map_err(|_| {
        Error::InvalidArgument(format!("Invalid push endpoint: {}", push.push_endpoint))
    })?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(Error::InvalidArgument(format!(
            "Invalid push endpoint: {} (the emulator delivers to http://host[:port]/path endpoints only)",
            push.push_endpoint
        )));
    }
    Ok(())
}

fn normalize_ack_deadline(seconds: i32) -> Result<i32> {
    match seconds {
        0 => Ok(DEFAULT_ACK_DEADLINE_SECONDS),
        MIN_ACK_DEADLINE_SECONDS..=MAX_ACK_DEADLINE_SECONDS => Ok(seconds),
        _ => Err(Error::InvalidArgument(format!(
            "The ack deadline must be between {MIN_ACK_DEADLINE_SECONDS} and {MAX_ACK_DEADLINE_SECONDS} seconds, got {seconds}"
        ))),
    }
}

/// Fills Pub/Sub's 10 s / 600 s defaults and checks `0 <= min <= max <= 600 s`.
fn normalize_retry_policy(policy: RetryPolicy) -> Result<RetryPolicy> {
    let seconds = |value: i64| prost_types::Duration {
        seconds: value,
        nanos: 0,
    };
    let minimum = policy.minimum_backoff.unwrap_or(seconds(10));
    let maximum = policy
        .maximum_backoff
        .unwrap_or(seconds(MAX_BACKOFF_SECONDS));
    let in_range = |d: &prost_types::Duration| {
        d.seconds >= 0 && d.nanos >= 0 && (d.seconds, d.nanos) <= (MAX_BACKOFF_SECONDS, 0)
    };
    if !in_range(&minimum) || !in_range(&maximum) {
        return Err(Error::InvalidArgument(
            "retry_policy backoffs must be between 0 and 600 seconds".to_owned(),
        ));
    }
    if (minimum.seconds, minimum.nanos) > (maximum.seconds, maximum.nanos) {
        return Err(Error::InvalidArgument(
            "retry_policy.minimum_backoff must not exceed maximum_backoff".to_owned(),
        ));
    }
    Ok(RetryPolicy {
        minimum_backoff: Some(minimum),
        maximum_backoff: Some(maximum),
    })
}

/// Applies the fields named by an update mask (snake_case paths) from `update` to `current`.
pub fn apply_subscription_update(
    current: &Subscription,
    update: Subscription,
    paths: &[String],
) -> Result<Subscription> {
    if paths.is_empty() {
        return Err(Error::InvalidArgument(
            "The update_mask must name at least one field".to_owned(),
        ));
    }
    let mut next = current.clone();
    for path in paths {
        match path.as_str() {
            "ack_deadline_seconds" => next.ack_deadline_seconds = update.ack_deadline_seconds,
            "push_config" => next.push_config = update.push_config.clone(),
            "retry_policy" => next.retry_policy = update.retry_policy,
            "dead_letter_policy" => next.dead_letter_policy = update.dead_letter_policy.clone(),
            "labels" => next.labels = update.labels.clone(),
            "message_retention_duration" => {
                next.message_retention_duration = update.message_retention_duration
            }
            "retain_acked_messages" => next.retain_acked_messages = update.retain_acked_messages,
            "expiration_policy" => next.expiration_policy = update.expiration_policy,
            "enable_exactly_once_delivery" => {
                next.enable_exactly_once_delivery = update.enable_exactly_once_delivery
            }
            "filter" => next.filter = update.filter.clone(),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Invalid update_mask provided: the emulator cannot update `{other}`"
                )));
            }
        }
    }
    normalize_subscription(next)
}

fn unsupported(what: &str) -> Error {
    Error::Unimplemented(format!("{what} are not supported by the Pub/Sub emulator"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription() -> Subscription {
        Subscription {
            name: "projects/p/subscriptions/sub".into(),
            topic: "projects/p/topics/top".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_filled_as_pubsub_does() {
        let sub = normalize_subscription(Subscription {
            retry_policy: Some(RetryPolicy::default()),
            dead_letter_policy: Some(crate::proto::DeadLetterPolicy {
                dead_letter_topic: "projects/p/topics/dead".into(),
                max_delivery_attempts: 0,
            }),
            ..subscription()
        })
        .expect("valid");
        assert_eq!(sub.ack_deadline_seconds, 10);
        let retry = sub.retry_policy.expect("kept");
        assert_eq!(retry.minimum_backoff.map(|d| d.seconds), Some(10));
        assert_eq!(retry.maximum_backoff.map(|d| d.seconds), Some(600));
        assert_eq!(
            sub.dead_letter_policy.map(|p| p.max_delivery_attempts),
            Some(5)
        );
    }

    #[test]
    fn out_of_range_settings_are_invalid_arguments() {
        let bad = [
            Subscription {
                ack_deadline_seconds: 601,
                ..subscription()
            },
            Subscription {
                push_config: Some(PushConfig {
                    push_endpoint: "https://example.com/push".into(),
                    ..Default::default()
                }),
                ..subscription()
            },
            Subscription {
                dead_letter_policy: Some(crate::proto::DeadLetterPolicy {
                    dead_letter_topic: "projects/p/topics/dead".into(),
                    max_delivery_attempts: 101,
                }),
                ..subscription()
            },
        ];
        for sub in bad {
            let error = normalize_subscription(sub).expect_err("invalid");
            assert_eq!(error.code(), tonic::Code::InvalidArgument, "{error}");
        }
        let filtered = Subscription {
            filter: "attributes.type = \"x\"".into(),
            ..subscription()
        };
        let error = normalize_subscription(filtered).expect_err("unsupported");
        assert_eq!(error.code(), tonic::Code::Unimplemented);
    }

    #[test]
    fn an_update_changes_only_the_masked_fields() {
        let current = normalize_subscription(subscription()).expect("valid");
        let update = Subscription {
            ack_deadline_seconds: 60,
            labels: [("team".to_owned(), "jobs".to_owned())].into(),
            ..Default::default()
        };
        let next = apply_subscription_update(&current, update, &["ack_deadline_seconds".into()])
            .expect("valid");
        assert_eq!(next.ack_deadline_seconds, 60);
        assert!(next.labels.is_empty());
        assert!(
            apply_subscription_update(&current, Subscription::default(), &["topic".into()])
                .is_err()
        );
    }
}

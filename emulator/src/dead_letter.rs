//! Dead-lettering: when a message has used its delivery attempts, and what is forwarded.

use crate::names::ResourceName;
use crate::proto::{DeadLetterPolicy, PubsubMessage};
use crate::wire_time;

/// Pub/Sub's `max_delivery_attempts` when a dead-letter policy leaves it at 0.
pub const DEFAULT_MAX_DELIVERY_ATTEMPTS: i32 = 5;

/// Whether a failed delivery that was attempt number `attempts` goes to the dead-letter topic.
pub fn exhausted(policy: Option<&DeadLetterPolicy>, attempts: u32) -> bool {
    policy.is_some_and(|policy| {
        let max = if policy.max_delivery_attempts == 0 {
            DEFAULT_MAX_DELIVERY_ATTEMPTS
        } else {
            policy.max_delivery_attempts
        };
        i64::from(attempts) >= i64::from(max)
    })
}

/// The copy of `message` published to the dead-letter topic: same data, attributes
/// and ordering key, plus the attributes Pub/Sub adds about where it came from.
pub fn forwarded_message(
    message: &PubsubMessage,
    subscription: ResourceName<'_>,
    attempts: u32,
) -> PubsubMessage {
    let mut attributes = message.attributes.clone();
    attributes.insert(
        "CloudPubSubDeadLetterSourceDeliveryCount".to_owned(),
        attempts.to_string(),
    );
    attributes.insert(
        "CloudPubSubDeadLetterSourceSubscription".to_owned(),
        subscription.id.to_owned(),
    );
    attributes.insert(
        "CloudPubSubDeadLetterSourceSubscriptionProject".to_owned(),
        subscription.project.to_owned(),
    );
    attributes.insert(
        "CloudPubSubDeadLetterSourceTopicPublishTime".to_owned(),
        wire_time::rfc3339_millis(message.publish_time.as_ref()),
    );
    PubsubMessage {
        data: message.data.clone(),
        attributes,
        ordering_key: message.ordering_key.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_exhausted_at_the_policy_maximum() {
        let policy = DeadLetterPolicy {
            dead_letter_topic: "projects/p/topics/dead".into(),
            max_delivery_attempts: 6,
        };
        assert!(!exhausted(Some(&policy), 5));
        assert!(exhausted(Some(&policy), 6));
        assert!(!exhausted(None, 1000));
        let default = DeadLetterPolicy {
            max_delivery_attempts: 0,
            ..policy
        };
        assert!(exhausted(Some(&default), 5));
    }

    #[test]
    fn the_forwarded_copy_names_its_source() {
        let message = PubsubMessage {
            data: "hello".into(),
            attributes: [("job_id".to_owned(), "1".to_owned())].into(),
            message_id: "42".into(),
            ..Default::default()
        };
        let source = ResourceName {
            project: "p",
            id: "jobs-worker",
        };
        let copy = forwarded_message(&message, source, 5);
        assert_eq!(copy.data, message.data);
        assert!(
            copy.message_id.is_empty(),
            "the dead-letter topic assigns a new id"
        );
        assert_eq!(copy.attributes["job_id"], "1");
        assert_eq!(
            copy.attributes["CloudPubSubDeadLetterSourceDeliveryCount"],
            "5"
        );
        assert_eq!(
            copy.attributes["CloudPubSubDeadLetterSourceSubscription"],
            "jobs-worker"
        );
        assert_eq!(
            copy.attributes["CloudPubSubDeadLetterSourceSubscriptionProject"],
            "p"
        );
        assert!(
            copy.attributes
                .contains_key("CloudPubSubDeadLetterSourceTopicPublishTime")
        );
    }
}

//! Decoding Pub/Sub's push envelope:
//! `{"message":{"data":"<base64>","attributes":{…},"messageId":"…","publishTime":"…"},"subscription":"…","deliveryAttempt":N}`.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jobs_domain::{JobId, JobMessage};
use serde::Deserialize;
use std::collections::HashMap;
use thiserror::Error;
use uuid::Uuid;

/// The attribute Pub/Sub sets on a dead-lettered message: deliveries made before forwarding it.
pub const DEAD_LETTER_DELIVERY_COUNT: &str = "CloudPubSubDeadLetterSourceDeliveryCount";

/// Pub/Sub encodes with padding; accepting either costs nothing and spares
/// hand-written test pushes and other publishers a confusing rejection.
const DATA_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The body of one push delivery.
// Pub/Sub also sends snake_case twins (`message_id`, `publish_time`); serde
// ignores them, whereas aliases would make the pair a "duplicate field" error.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEnvelope {
    /// The message delivered.
    pub message: PushMessage,
    /// `projects/P/subscriptions/S`.
    #[serde(default)]
    pub subscription: String,
    /// Deliveries so far, counting this one; only set where a dead-letter policy is.
    pub delivery_attempt: Option<u32>,
}

/// The message inside a push envelope.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushMessage {
    /// The payload, base64-encoded.
    pub data: Option<String>,
    /// Key-value attributes set by the publisher (and by Pub/Sub when dead-lettering).
    pub attributes: Option<HashMap<String, String>>,
    /// Pub/Sub's id of the message.
    #[serde(default)]
    pub message_id: String,
    /// When Pub/Sub received the message (RFC 3339).
    pub publish_time: Option<String>,
}

/// Why a push body names no job. Redelivery cannot fix any of these, so the
/// delivery is acked and logged.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The body is not JSON of the envelope's shape.
    #[error("the body is not a Pub/Sub push envelope: {0}")]
    NotAnEnvelope(String),
    /// `message.data` is not base64.
    #[error("message data is not base64: {0}")]
    BadBase64(String),
    /// `message.data` decodes, but not to `{"job_id", "type"}`.
    #[error("message data is not a job message: {0}")]
    NotAJobMessage(String),
    /// Neither the data nor the attributes name a job.
    #[error("the message names no job")]
    MissingJobId,
}

impl PushEnvelope {
    /// Parses a push body.
    pub fn from_slice(body: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(body).map_err(|err| EnvelopeError::NotAnEnvelope(err.to_string()))
    }

    /// One attribute of the message.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.message
            .attributes
            .as_ref()
            .and_then(|attributes| attributes.get(name))
            .map(String::as_str)
    }

    /// The job message the data carries. When the data is absent or empty,
    /// the `job_id` and `type` attributes (which the publisher also sets) stand in.
    pub fn job_message(&self) -> Result<JobMessage, EnvelopeError> {
        let bytes = match self.message.data.as_deref().filter(|data| !data.is_empty()) {
            Some(data) => DATA_ENGINE
                .decode(data)
                .map_err(|err| EnvelopeError::BadBase64(err.to_string()))?,
            None => Vec::new(),
        };
        job_message(&bytes, |name| self.attribute(name))
    }

    /// Deliveries Pub/Sub made before dead-lettering the message: its
    /// dead-letter attribute, else the envelope's `deliveryAttempt`.
    pub fn dead_letter_delivery_count(&self) -> Option<u32> {
        self.attribute(DEAD_LETTER_DELIVERY_COUNT)
            .and_then(|count| count.trim().parse().ok())
            .or(self.delivery_attempt)
    }
}

/// The job message of a message's decoded `data`, as the API publishes it;
/// when the data is empty, its `job_id` and `type` attributes (which the
/// publisher also sets) stand in. A push and a pull read messages alike.
pub fn job_message<'a>(
    data: &[u8],
    attribute: impl Fn(&str) -> Option<&'a str>,
) -> Result<JobMessage, EnvelopeError> {
    if !data.is_empty() {
        return serde_json::from_slice(data)
            .map_err(|err| EnvelopeError::NotAJobMessage(err.to_string()));
    }
    let job_id = attribute("job_id")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or(EnvelopeError::MissingJobId)?;
    Ok(JobMessage {
        job_id: JobId(job_id),
        job_type: attribute("type").unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    fn envelope(message: serde_json::Value) -> PushEnvelope {
        let body = json!({"message": message, "subscription": "projects/p/subscriptions/s"});
        PushEnvelope::from_slice(body.to_string().as_bytes()).expect("an envelope")
    }

    #[test]
    fn a_real_push_body_with_snake_case_twins_decodes() {
        let id = Uuid::now_v7();
        let data = STANDARD.encode(json!({"job_id": id, "type": "noop"}).to_string());
        let body = json!({
            "message": {
                "data": data, "attributes": {"job_id": id.to_string(), "type": "noop"},
                "messageId": "42", "message_id": "42",
                "publishTime": "2026-01-01T00:00:00Z", "publish_time": "2026-01-01T00:00:00Z"
            },
            "subscription": "projects/p/subscriptions/jobs-worker",
            "deliveryAttempt": 3
        });
        let envelope = PushEnvelope::from_slice(body.to_string().as_bytes()).expect("decodes");
        assert_eq!(envelope.message.message_id, "42");
        assert_eq!(envelope.delivery_attempt, Some(3));
        let message = envelope.job_message().expect("a job message");
        assert_eq!(message.job_id, JobId(id));
        assert_eq!(message.job_type, "noop");
    }

    #[test]
    fn bad_data_is_reported_not_panicked_on() {
        let bad_base64 = envelope(json!({"data": "not base64!", "messageId": "1"}));
        assert!(matches!(
            bad_base64.job_message(),
            Err(EnvelopeError::BadBase64(_))
        ));
        let wrong_shape = envelope(json!({"data": STANDARD.encode("{\"hello\":1}")}));
        assert!(matches!(
            wrong_shape.job_message(),
            Err(EnvelopeError::NotAJobMessage(_))
        ));
        let nothing = envelope(json!({"messageId": "1"}));
        assert_eq!(nothing.job_message(), Err(EnvelopeError::MissingJobId));
        assert!(PushEnvelope::from_slice(b"{").is_err());
        assert!(PushEnvelope::from_slice(b"{\"message\": 3}").is_err());
    }

    #[test]
    fn attributes_stand_in_for_missing_data_and_unpadded_data_decodes() {
        let id = Uuid::now_v7();
        let by_attribute = envelope(json!({"attributes": {"job_id": id.to_string()}}));
        assert_eq!(
            by_attribute.job_message().expect("from attributes").job_id,
            JobId(id)
        );
        let unpadded = STANDARD
            .encode(json!({"job_id": id, "type": "noop"}).to_string())
            .trim_end_matches('=')
            .to_owned();
        let unpadded = envelope(json!({ "data": unpadded }));
        assert_eq!(unpadded.job_message().expect("decodes").job_id, JobId(id));
    }

    #[test]
    fn the_dead_letter_count_prefers_the_attribute() {
        let body = json!({
            "message": {"attributes": {DEAD_LETTER_DELIVERY_COUNT: "5"}},
            "deliveryAttempt": 1
        });
        let envelope = PushEnvelope::from_slice(body.to_string().as_bytes()).expect("decodes");
        assert_eq!(envelope.dead_letter_delivery_count(), Some(5));
        let body = json!({"message": {}, "deliveryAttempt": 2});
        let envelope = PushEnvelope::from_slice(body.to_string().as_bytes()).expect("decodes");
        assert_eq!(envelope.dead_letter_delivery_count(), Some(2));
    }
}

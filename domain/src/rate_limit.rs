//! A job type's per-key rate limit: at most `limit` accepted jobs per key
//! value in any `period_seconds` (a sliding window), decided by PostgreSQL so
//! it holds across every API instance.

use crate::payload_key::PayloadKey;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The largest `limit` a rate limit may have.
pub const MAX_RATE_LIMIT: u32 = 10_000;
/// The longest window: 30 days.
pub const MAX_RATE_PERIOD_SECONDS: u32 = 30 * 24 * 3600;

/// At most `limit` jobs per key value in any `period_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Where the key value is in the payload; absent: one limit for the whole type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PayloadKey>,
    /// Jobs accepted per window.
    pub limit: u32,
    /// The window's length.
    pub period_seconds: u32,
    /// What a submit over the limit gets.
    #[serde(default)]
    pub when_exceeded: WhenExceeded,
}

/// What a submit over a rate limit gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenExceeded {
    /// 429 with `Retry-After`; nothing is stored.
    #[default]
    Reject,
    /// Accepted, with `run_at` the first moment the window has room.
    Delay,
}

impl RateLimit {
    /// Checks the numbers; the message names the field under `rate_limit`.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_RATE_LIMIT).contains(&self.limit) {
            return Err(format!(
                "rate_limit.limit: must be between 1 and {MAX_RATE_LIMIT}"
            ));
        }
        if !(1..=MAX_RATE_PERIOD_SECONDS).contains(&self.period_seconds) {
            return Err(format!(
                "rate_limit.period_seconds: must be between 1 and {MAX_RATE_PERIOD_SECONDS}"
            ));
        }
        Ok(())
    }

    /// The window's length.
    pub fn period(&self) -> Duration {
        Duration::from_secs(u64::from(self.period_seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rate_limit_reads_as_documented_and_rejects_by_default() {
        let limit: RateLimit =
            serde_json::from_value(json!({"key": "/user_id", "limit": 10, "period_seconds": 3600}))
                .expect("reads");
        assert_eq!(limit.when_exceeded, WhenExceeded::Reject);
        assert_eq!(limit.validate(), Ok(()));
        let delay: RateLimit = serde_json::from_value(
            json!({"limit": 1, "period_seconds": 1, "when_exceeded": "delay"}),
        )
        .expect("reads");
        assert_eq!(delay.when_exceeded, WhenExceeded::Delay);
        assert!(
            serde_json::from_value::<RateLimit>(
                json!({"key": "user_id", "limit": 1, "period_seconds": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn limits_and_periods_out_of_range_are_refused_by_field() {
        let limit = |limit, period_seconds| RateLimit {
            key: None,
            limit,
            period_seconds,
            when_exceeded: WhenExceeded::Reject,
        };
        assert!(
            limit(0, 60)
                .validate()
                .expect_err("refused")
                .starts_with("rate_limit.limit")
        );
        assert!(limit(MAX_RATE_LIMIT + 1, 60).validate().is_err());
        assert!(
            limit(1, 0)
                .validate()
                .expect_err("refused")
                .starts_with("rate_limit.period_seconds")
        );
        assert!(limit(1, MAX_RATE_PERIOD_SECONDS + 1).validate().is_err());
    }
}

//! When a nacked message is delivered again: the retry policy's exponential backoff.

use crate::proto::RetryPolicy;
use crate::time_scale::TimeScale;
use std::time::Duration;

/// Pub/Sub's minimum backoff when a retry policy leaves it unset.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(10);
/// Pub/Sub's maximum backoff when a retry policy leaves it unset.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(600);
/// The first delay of Pub/Sub's push backoff, used by push subscriptions without a retry policy.
const PUSH_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The cap of Pub/Sub's push backoff.
const PUSH_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// The bounds of an exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed delivery.
    pub min: Duration,
    /// The delay never grows past this.
    pub max: Duration,
}

impl Backoff {
    /// The backoff a retry policy describes, with Pub/Sub's defaults for unset bounds.
    pub fn from_policy(policy: &RetryPolicy) -> Self {
        let bound = |value: Option<prost_types::Duration>, default| {
            value
                .and_then(|d| Duration::try_from(d).ok())
                .unwrap_or(default)
        };
        Self {
            min: bound(policy.minimum_backoff, DEFAULT_MIN_BACKOFF),
            max: bound(policy.maximum_backoff, DEFAULT_MAX_BACKOFF),
        }
    }

    /// The delay after `attempts` failed deliveries: `min`, doubling per attempt, capped at `max`.
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.min
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// How long a message waits before its next delivery after `attempts` failed ones.
///
/// Without a retry policy Pub/Sub redelivers at once; push subscriptions then
/// still slow down with Pub/Sub's push backoff, so a failing endpoint is not
/// called in a tight loop.
pub fn redelivery_delay(
    policy: Option<&RetryPolicy>,
    push: bool,
    attempts: u32,
    time_scale: TimeScale,
) -> Duration {
    let delay = match (policy, push) {
        (Some(policy), _) => Backoff::from_policy(policy).delay(attempts),
        (None, true) => Backoff {
            min: PUSH_BACKOFF_MIN,
            max: PUSH_BACKOFF_MAX,
        }
        .delay(attempts),
        (None, false) => Duration::ZERO,
    };
    time_scale.shrink(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(s: i64) -> Option<prost_types::Duration> {
        Some(prost_types::Duration {
            seconds: s,
            nanos: 0,
        })
    }

    #[test]
    fn backoff_doubles_from_the_minimum_and_stops_at_the_maximum() {
        let backoff = Backoff::from_policy(&RetryPolicy {
            minimum_backoff: seconds(10),
            maximum_backoff: seconds(60),
        });
        let delays: Vec<u64> = (1..=6).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn an_empty_retry_policy_uses_pubsub_defaults() {
        let backoff = Backoff::from_policy(&RetryPolicy::default());
        assert_eq!(backoff.min, DEFAULT_MIN_BACKOFF);
        assert_eq!(backoff.max, DEFAULT_MAX_BACKOFF);
    }

    #[test]
    fn without_a_policy_pull_redelivers_at_once_and_push_backs_off_gently() {
        assert_eq!(
            redelivery_delay(None, false, 3, TimeScale::REAL),
            Duration::ZERO
        );
        assert_eq!(
            redelivery_delay(None, true, 1, TimeScale::REAL),
            Duration::from_millis(100)
        );
        assert_eq!(
            redelivery_delay(None, true, 20, TimeScale::REAL),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn the_time_scale_shrinks_the_delay() {
        let policy = RetryPolicy {
            minimum_backoff: seconds(10),
            maximum_backoff: seconds(600),
        };
        let scale = TimeScale::new(1000.0).expect("valid");
        assert_eq!(
            redelivery_delay(Some(&policy), true, 2, scale),
            Duration::from_millis(20)
        );
    }
}

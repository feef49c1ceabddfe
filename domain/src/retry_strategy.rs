//! How a job type retries a retryable failure: by Pub/Sub's redelivery, or
//! on a schedule of its own that the reconciler keeps.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// A job type's retry schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetryStrategy {
    /// Nack, and let the subscription's retry policy back off (10 s to 600 s).
    #[default]
    Pubsub,
    /// `initial_delay_seconds × multiplier^(n-1)`, at most `max_delay_seconds`.
    Exponential {
        /// The delay before the first retry.
        initial_delay_seconds: u32,
        /// The longest delay.
        max_delay_seconds: u32,
        /// The growth per retry (default 2).
        #[serde(default = "two")]
        multiplier: f64,
        /// Spread each delay randomly over [delay/2, delay], so retries of many
        /// jobs do not arrive together.
        #[serde(default)]
        jitter: bool,
    },
    /// `initial_delay_seconds + step_seconds × (n-1)`, at most `max_delay_seconds`.
    Linear {
        /// The delay before the first retry.
        initial_delay_seconds: u32,
        /// What each retry adds.
        step_seconds: u32,
        /// The longest delay.
        max_delay_seconds: u32,
    },
    /// The same delay before every retry.
    Fixed {
        /// The delay.
        delay_seconds: u32,
    },
}

fn two() -> f64 {
    2.0
}

/// The longest delay any schedule may ask for: a day.
pub const MAX_RETRY_DELAY_SECONDS: u32 = 24 * 3600;

impl RetryStrategy {
    /// Checks the parameters; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |field: &str, value: u32| {
            if value > MAX_RETRY_DELAY_SECONDS {
                Err(format!(
                    "retry.{field}: must be at most {MAX_RETRY_DELAY_SECONDS}"
                ))
            } else {
                Ok(())
            }
        };
        match *self {
            RetryStrategy::Pubsub => Ok(()),
            RetryStrategy::Exponential {
                initial_delay_seconds,
                max_delay_seconds,
                multiplier,
                ..
            } => {
                in_range("initial_delay_seconds", initial_delay_seconds)?;
                in_range("max_delay_seconds", max_delay_seconds)?;
                if initial_delay_seconds > max_delay_seconds {
                    return Err(
                        "retry.initial_delay_seconds: must not exceed max_delay_seconds".into(),
                    );
                }
                if !(1.0..=10.0).contains(&multiplier) {
                    return Err("retry.multiplier: must be from 1 to 10".into());
                }
                Ok(())
            }
            RetryStrategy::Linear {
                initial_delay_seconds,
                step_seconds,
                max_delay_seconds,
            } => {
                in_range("initial_delay_seconds", initial_delay_seconds)?;
                in_range("step_seconds", step_seconds)?;
                in_range("max_delay_seconds", max_delay_seconds)?;
                if initial_delay_seconds > max_delay_seconds {
                    return Err(
                        "retry.initial_delay_seconds: must not exceed max_delay_seconds".into(),
                    );
                }
                Ok(())
            }
            RetryStrategy::Fixed { delay_seconds } => in_range("delay_seconds", delay_seconds),
        }
    }

    /// The delay before retry number `retry` (1 for the first), or `None`
    /// when Pub/Sub's redelivery retries.
    pub fn delay(&self, retry: i32) -> Option<Duration> {
        let n = f64::from(retry.max(1) - 1);
        let seconds = match *self {
            RetryStrategy::Pubsub => return None,
            RetryStrategy::Exponential {
                initial_delay_seconds,
                max_delay_seconds,
                multiplier,
                jitter,
            } => {
                let full = (f64::from(initial_delay_seconds) * multiplier.powf(n))
                    .min(f64::from(max_delay_seconds));
                if jitter {
                    rand::rng().random_range(full / 2.0..=full)
                } else {
                    full
                }
            }
            RetryStrategy::Linear {
                initial_delay_seconds,
                step_seconds,
                max_delay_seconds,
            } => (f64::from(initial_delay_seconds) + f64::from(step_seconds) * n)
                .min(f64::from(max_delay_seconds)),
            RetryStrategy::Fixed { delay_seconds } => f64::from(delay_seconds),
        };
        Some(Duration::from_secs_f64(seconds.max(0.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_schedule_is_2_4_8_16_seconds() {
        let strategy: RetryStrategy = serde_json::from_value(serde_json::json!({
            "strategy": "exponential", "initial_delay_seconds": 2, "max_delay_seconds": 16, "jitter": false
        }))
        .expect("parses");
        let delays: Vec<u64> = (1..=5)
            .filter_map(|n| strategy.delay(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [2, 4, 8, 16, 16]);
    }

    #[test]
    fn linear_and_fixed_schedules_and_pubsub_has_none() {
        let linear = RetryStrategy::Linear {
            initial_delay_seconds: 5,
            step_seconds: 10,
            max_delay_seconds: 20,
        };
        let delays: Vec<u64> = (1..=4)
            .filter_map(|n| linear.delay(n))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [5, 15, 20, 20]);
        assert_eq!(
            RetryStrategy::Fixed { delay_seconds: 3 }.delay(9),
            Some(Duration::from_secs(3))
        );
        assert_eq!(RetryStrategy::Pubsub.delay(1), None);
    }

    #[test]
    fn jitter_stays_within_half_and_all_of_the_delay() {
        let jittered = RetryStrategy::Exponential {
            initial_delay_seconds: 8,
            max_delay_seconds: 8,
            multiplier: 2.0,
            jitter: true,
        };
        for _ in 0..100 {
            let delay = jittered.delay(1).expect("scheduled").as_secs_f64();
            assert!((4.0..=8.0).contains(&delay), "{delay}");
        }
    }

    #[test]
    fn bad_parameters_are_refused_naming_the_field() {
        let backwards = RetryStrategy::Exponential {
            initial_delay_seconds: 20,
            max_delay_seconds: 10,
            multiplier: 2.0,
            jitter: false,
        };
        assert!(
            backwards
                .validate()
                .expect_err("refused")
                .starts_with("retry.initial_delay_seconds")
        );
        let huge = RetryStrategy::Fixed {
            delay_seconds: u32::MAX,
        };
        assert!(
            huge.validate()
                .expect_err("refused")
                .starts_with("retry.delay_seconds")
        );
        let unknown =
            serde_json::from_value::<RetryStrategy>(serde_json::json!({"strategy": "random"}));
        assert!(unknown.is_err());
    }
}

//! A job type's per-key rate limit: at most `limit` accepted jobs per key
//! value in any `period_seconds` (a sliding window), decided by PostgreSQL so
//! it holds across every API instance.

use crate::payload_key::PayloadKey;
use chrono::{DateTime, Utc};
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

    /// Whether a job may be accepted, and its slot. `latest` is the
    /// `limit`-th most recent slot of the key (`None`: fewer slots than
    /// that), `run_at` the time the job asked to run at.
    ///
    /// A slot at `t` is allowed when fewer than `limit` slots lie after
    /// `t - period`, that is when the `limit`-th most recent one is at or
    /// before `t - period`: then every window of `period` that holds `t`
    /// holds at most `limit` slots, whatever order slots were taken in.
    pub fn admit(
        &self,
        now: DateTime<Utc>,
        latest: Option<DateTime<Utc>>,
        run_at: DateTime<Utc>,
    ) -> Admission {
        let period = chrono::Duration::seconds(i64::from(self.period_seconds));
        let frees_at = latest.map(|slot| slot + period);
        match self.when_exceeded {
            WhenExceeded::Reject => match frees_at {
                Some(frees_at) if frees_at > now => {
                    let wait = (frees_at - now).to_std().unwrap_or_default();
                    // Whole seconds, rounded up: a client retrying on time must fit.
                    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    Admission::Reject {
                        retry_after: Duration::from_secs(whole.max(1)),
                    }
                }
                _ => Admission::Admit {
                    slot_at: now,
                    run_at,
                },
            },
            WhenExceeded::Delay => {
                let slot_at = frees_at
                    .map_or(now, |frees_at| frees_at.max(now))
                    .max(run_at);
                Admission::Admit {
                    slot_at,
                    run_at: slot_at,
                }
            }
        }
    }
}

/// What a rate limit says of a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Accept it: the job takes a slot at `slot_at` and runs at `run_at`.
    Admit {
        /// The slot's time.
        slot_at: DateTime<Utc>,
        /// The job's `run_at`.
        run_at: DateTime<Utc>,
    },
    /// Refuse it; a slot frees after `retry_after`.
    Reject {
        /// Until a slot frees, in whole seconds.
        retry_after: Duration,
    },
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

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("in range")
    }

    fn ten_per_hour(when_exceeded: WhenExceeded) -> RateLimit {
        RateLimit {
            key: None,
            limit: 10,
            period_seconds: 3600,
            when_exceeded,
        }
    }

    #[test]
    fn reject_admits_while_the_window_has_room_and_says_when_it_frees() {
        let limit = ten_per_hour(WhenExceeded::Reject);
        assert_eq!(
            limit.admit(at(100), None, at(100)),
            Admission::Admit {
                slot_at: at(100),
                run_at: at(100)
            }
        );
        // The tenth most recent slot is 100 s old: a slot frees in 3,500 s.
        assert_eq!(
            limit.admit(at(100), Some(at(0)), at(100)),
            Admission::Reject {
                retry_after: Duration::from_secs(3500)
            }
        );
        // A window that ended exactly now has room again.
        assert_eq!(
            limit.admit(at(3600), Some(at(0)), at(3700)),
            Admission::Admit {
                slot_at: at(3600),
                run_at: at(3700)
            }
        );
        let almost = DateTime::from_timestamp(1_800_000_000 + 3599, 500_000_000).expect("in range");
        assert_eq!(
            limit.admit(almost, Some(at(0)), almost),
            Admission::Reject {
                retry_after: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn delay_runs_the_job_when_the_window_has_room_or_later_if_asked() {
        let limit = ten_per_hour(WhenExceeded::Delay);
        assert_eq!(
            limit.admit(at(100), None, at(100)),
            Admission::Admit {
                slot_at: at(100),
                run_at: at(100)
            }
        );
        assert_eq!(
            limit.admit(at(100), Some(at(50)), at(100)),
            Admission::Admit {
                slot_at: at(3650),
                run_at: at(3650)
            }
        );
        assert_eq!(
            limit.admit(at(100), Some(at(50)), at(9000)),
            Admission::Admit {
                slot_at: at(9000),
                run_at: at(9000)
            }
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

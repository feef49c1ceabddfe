//! The factor that shrinks every ack deadline and backoff, so retry paths test in milliseconds.

use std::{fmt, str::FromStr, time::Duration};

/// A factor of at least 1 by which every ack deadline and redelivery backoff is divided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(f64);

/// A time scale below 1 or not a finite number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the time scale must be a finite number >= 1, got {0}")]
pub struct TimeScaleError(String);

impl TimeScale {
    /// Real Pub/Sub timing.
    pub const REAL: Self = Self(1.0);

    /// A time scale of `factor`, which must be finite and at least 1.
    pub fn new(factor: f64) -> Result<Self, TimeScaleError> {
        if factor.is_finite() && factor >= 1.0 {
            Ok(Self(factor))
        } else {
            Err(TimeScaleError(factor.to_string()))
        }
    }

    /// The factor.
    pub fn factor(self) -> f64 {
        self.0
    }

    /// `duration` divided by the factor.
    pub fn shrink(self, duration: Duration) -> Duration {
        duration.div_f64(self.0)
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        Self::REAL
    }
}

impl fmt::Display for TimeScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TimeScale {
    type Err = TimeScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let factor = s
            .trim()
            .parse::<f64>()
            .map_err(|_| TimeScaleError(s.to_owned()))?;
        Self::new(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale_divides_durations_and_rejects_speed_ups_below_one() {
        let scale: TimeScale = "100".parse().expect("valid");
        assert_eq!(
            scale.shrink(Duration::from_secs(10)),
            Duration::from_millis(100)
        );
        assert_eq!(
            TimeScale::REAL.shrink(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        for bad in ["0.5", "0", "-2", "NaN", "inf", "fast"] {
            assert!(
                bad.parse::<TimeScale>().is_err(),
                "{bad} should be rejected"
            );
        }
    }
}

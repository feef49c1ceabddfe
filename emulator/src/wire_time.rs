//! Timestamps and durations as they travel in JSON: RFC 3339 and proto3's `"10s"`.

use chrono::{DateTime, SecondsFormat, Utc};
use prost_types::{Duration, Timestamp};

/// The current time as a protobuf timestamp.
pub fn now() -> Timestamp {
    let now = Utc::now();
    Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// RFC 3339 in UTC with `Z` and 0, 3, 6 or 9 fractional digits, as Pub/Sub writes it.
pub fn rfc3339(timestamp: Option<&Timestamp>) -> String {
    to_datetime(timestamp).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// RFC 3339 with milliseconds and a `+00:00` offset, as Pub/Sub writes dead-letter attributes.
pub fn rfc3339_millis(timestamp: Option<&Timestamp>) -> String {
    to_datetime(timestamp).to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn to_datetime(timestamp: Option<&Timestamp>) -> DateTime<Utc> {
    timestamp
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_default()
}

/// A proto3 JSON duration: seconds with an optional fraction and an `s` suffix.
pub fn format_duration(duration: &Duration) -> String {
    if duration.nanos == 0 {
        format!("{}s", duration.seconds)
    } else {
        let fraction = format!("{:09}", duration.nanos.unsigned_abs());
        let sign = if duration.seconds == 0 && duration.nanos < 0 {
            "-"
        } else {
            ""
        };
        format!(
            "{sign}{}.{}s",
            duration.seconds,
            fraction.trim_end_matches('0')
        )
    }
}

/// Parses a proto3 JSON duration such as `"10s"`, `"0.5s"` or `"-1.25s"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let number = text.strip_suffix('s')?;
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().ok()?;
    let nanos: i32 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(if negative {
        Duration {
            seconds: -seconds,
            nanos: -nanos,
        }
    } else {
        Duration { seconds, nanos }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_through_their_json_form() {
        for (text, seconds, nanos) in [
            ("10s", 10, 0),
            ("0.5s", 0, 500_000_000),
            ("600s", 600, 0),
            ("1.000000001s", 1, 1),
            ("-1.25s", -1, -250_000_000),
        ] {
            let duration = parse_duration(text).expect(text);
            assert_eq!((duration.seconds, duration.nanos), (seconds, nanos));
            assert_eq!(format_duration(&duration), text);
        }
        for bad in ["10", "s", "1.s5", "ten s", "1.0000000001s"] {
            assert!(parse_duration(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc() {
        let timestamp = Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_000_000,
        };
        assert_eq!(rfc3339(Some(&timestamp)), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            rfc3339_millis(Some(&timestamp)),
            "2023-11-14T22:13:20.123+00:00"
        );
    }
}

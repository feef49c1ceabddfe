//! What the command line reads besides flags: JSON given inline or as
//! `@FILE`, durations such as `1h30m`, times, and files of jobs.

use chrono::{DateTime, Utc};
use jobs_client::NewJob;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// A JSON value from the command line: the text itself, `@FILE` for a
/// file's content, or `@-` for stdin's.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(pub Value);

impl FromStr for Json {
    type Err = String;

    fn from_str(argument: &str) -> Result<Json, String> {
        let (text, source) = match argument.strip_prefix('@') {
            Some(path) => (read_source(Path::new(path))?, describe(path)),
            None => (argument.to_owned(), "the argument".to_owned()),
        };
        serde_json::from_str(&text)
            .map(Json)
            .map_err(|err| format!("{source} is not JSON: {err}"))
    }
}

fn describe(path: &str) -> String {
    match path {
        "-" => "stdin".to_owned(),
        path => format!("`{path}`"),
    }
}

/// The content of the file at `path`, or stdin's for `-`.
pub fn read_source(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| format!("cannot read stdin: {err}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|err| format!("cannot read `{}`: {err}", path.display()))
}

/// A duration: whole numbers each with a unit (`ms`, `s`, `m`, `h`, `d`),
/// such as `30s` or `1h30m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration such as 30s, 5m, 2h, 1d or 1h30m");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86_400)),
            _ => return Err(invalid()),
        };
        rest = &rest[unit..];
        total = total.saturating_add(part);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// An RFC 3339 time.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is not an RFC 3339 time such as 2026-12-24T18:00:00Z"))
}

/// The jobs of a batch file: a JSON array of submits, or one submit per
/// line (blank lines skipped). Each must be a submit as the API takes it.
pub fn parse_batch(text: &str) -> Result<Vec<NewJob>, String> {
    if text.trim_start().starts_with('[') {
        let items: Vec<Value> =
            serde_json::from_str(text).map_err(|err| format!("not a JSON array: {err}"))?;
        return items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::from_value(item).map_err(|err| format!("item {index}: {err}"))
            })
            .collect();
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|err| format!("line {}: {err}", index + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_take_units_and_their_sums() {
        let cases = [
            ("30", 30_000),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1s500ms", 1_500),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
        for text in ["", "s", "5x", "1.5s", "-1s", "5 m", "m5"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn json_is_read_inline_or_from_a_file() {
        assert_eq!("{\"a\": 1}".parse(), Ok(Json(json!({"a": 1}))));
        let path = std::env::temp_dir().join(format!("jobs-cli-input-{}.json", std::process::id()));
        std::fs::write(&path, "[1, 2]").expect("writes");
        let read = format!("@{}", path.display()).parse::<Json>();
        let _ = std::fs::remove_file(&path);
        assert_eq!(read, Ok(Json(json!([1, 2]))));
        let missing = "@/no/such/file.json".parse::<Json>().expect_err("no file");
        assert!(
            missing.starts_with("cannot read `/no/such/file.json`"),
            "{missing}"
        );
        let bad = "{a}".parse::<Json>().expect_err("not JSON");
        assert!(bad.starts_with("the argument is not JSON"), "{bad}");
    }

    #[test]
    fn a_batch_is_an_array_or_json_lines() {
        let lines = "{\"type\": \"noop\", \"payload\": {}}\n\n{\"type\": \"sleep\", \"payload\": {\"ms\": 5}}\n";
        let jobs = parse_batch(lines).expect("json lines");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].job_type, "sleep");
        let array = parse_batch("  [{\"type\": \"noop\", \"payload\": {}}]").expect("an array");
        assert_eq!(array, vec![NewJob::new("noop", json!({}))]);
        let err = parse_batch("{\"type\": \"noop\", \"payload\": {}}\n{\"type\": \"noop\", \"payload\": {}, \"tpye\": 1}")
            .expect_err("an unknown field");
        assert!(err.starts_with("line 2: unknown field `tpye`"), "{err}");
    }
}

//! Periodic schedules: a cron pattern in an IANA time zone and the job each
//! occurrence enqueues. This module holds the rules (names, patterns, zones,
//! which occurrence is due); `schedule_store` holds the SQL.
//!
//! # Occurrences
//!
//! Patterns are evaluated by `croner` on the wall clock of the schedule's zone
//! (`chrono-tz`), and the occurrences are instants (UTC). Daylight saving:
//!
//! - A **fixed-time** pattern (one value each for second, minute and hour,
//!   e.g. `30 2 * * *`) whose time does not exist on a spring-forward day (in
//!   Europe/Paris, 02:30 on the last Sunday of March) runs at the first
//!   instant after the gap (03:00 local time); on a fall-back day, when its
//!   time happens twice (02:30 on the last Sunday of October), it runs once,
//!   at the first (02:30 summer time).
//! - Any other pattern (`*/15 * * * *`, `30 * * * *`) follows the wall clock:
//!   times in a spring-forward gap do not happen and are skipped, and times
//!   that happen twice run twice.
//!
//! # Missed occurrences
//!
//! When the schedule's `next_run_at` has passed, only the **latest**
//! occurrence at or before now is enqueued ([`CronSchedule::due`]), and the
//! ones between are skipped. A periodic job stands for "the state as of now"
//! (a report, a sync, a clean-up): after an outage a backlog of identical runs
//! is rarely wanted, and enqueueing hours of an every-minute schedule at once
//! would burst onto the workers and the targets.

use crate::submission::{FieldError, PayloadSchema, SubmissionLimits, job_fields};
use crate::{JobId, JobSubmission};
use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, ObjectBuilder, OneOfBuilder, Schema,
};
use utoipa::openapi::{Ref, RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

/// What a schedule's name may be, as the `schedules_name_is_valid` constraint says.
pub const NAME_PATTERN: &str = "^[a-z][a-z0-9._-]{0,99}$";
/// Longest cron pattern accepted, in characters.
pub const MAX_CRON_CHARS: usize = 200;
/// What a cron pattern looks like: 5 or 6 fields separated by single spaces.
pub const CRON_PATTERN: &str = r"^[0-9A-Za-z*,/?#+-]+( [0-9A-Za-z*,/?#+-]+){4,5}$";
/// The zone of a schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// True when `name` matches [`NAME_PATTERN`]: 1 to 100 characters of
/// `a-z0-9._-`, starting with a letter.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 100
        && chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// The idempotency key of a schedule's occurrence: one job per slot, whichever
/// leader enqueues it, however often.
pub fn slot_key(name: &str, slot: DateTime<Utc>) -> String {
    format!(
        "schedule:{name}:{}",
        slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// A parsed cron pattern in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
}

/// The occurrence a due schedule enqueues, and the one after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The occurrence's instant: the job's `run_at` and its idempotency key.
    pub slot: DateTime<Utc>,
    /// The next occurrence after now; `None` when the pattern has no more.
    pub next: Option<DateTime<Utc>>,
}

impl CronSchedule {
    /// Parses `cron` (5 fields, or 6 with seconds first) in the IANA zone
    /// `timezone`; every problem is reported at its field (`cron`, `timezone`).
    /// A pattern that never matches (`0 0 30 2 *`) is refused too.
    pub fn parse(cron: &str, timezone: &str, now: DateTime<Utc>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let zone = match timezone.parse::<Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                errors.push(FieldError::new(
                    "timezone",
                    "must be an IANA time zone name, such as `Europe/Paris` or `UTC`",
                ));
                None
            }
        };
        let parsed = parse_cron(cron)
            .map_err(|message| errors.push(FieldError::new("cron", message)))
            .ok();
        let (Some(cron), Some(zone)) = (parsed, zone) else {
            return Err(errors);
        };
        let schedule = CronSchedule { cron, zone };
        if schedule.next_after(now).is_none() {
            return Err(vec![FieldError::new(
                "cron",
                "never matches a date (such as the 30th of February)",
            )]);
        }
        Ok(schedule)
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.trunc_subsecs(0).with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }

    /// The last occurrence at or before `at`.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.trunc_subsecs(0).with_timezone(&self.zone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|previous| previous.with_timezone(&Utc))
    }

    /// What a schedule whose next occurrence was `next_run_at` enqueues at
    /// `now`: nothing before `next_run_at`; then the latest occurrence at or
    /// before `now` (the missed ones before it are skipped, see the module's
    /// header), and the next occurrence after `now`.
    pub fn due(&self, next_run_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<Occurrence> {
        if next_run_at > now {
            return None;
        }
        // `next_run_at` is an occurrence itself, unless the pattern changed
        // under it; never go back before it.
        let slot = self
            .latest_at_or_before(now)
            .filter(|latest| *latest >= next_run_at)
            .unwrap_or(next_run_at);
        Some(Occurrence {
            slot,
            next: self.next_after(now.max(slot)),
        })
    }
}

/// Checks the pattern's shape here (so the message can say what is wrong and
/// the OpenAPI pattern is exact), its values with `croner`.
fn parse_cron(cron: &str) -> Result<Cron, String> {
    let shape = "must be 5 fields (minute hour day-of-month month day-of-week), or 6 with \
                 seconds first, separated by single spaces";
    let fields: Vec<&str> = cron.split(' ').collect();
    let field_chars =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '/' | '?' | '#' | '+' | '-');
    if cron.chars().count() > MAX_CRON_CHARS {
        return Err(format!("must be at most {MAX_CRON_CHARS} characters"));
    }
    if !(5..=6).contains(&fields.len())
        || fields
            .iter()
            .any(|field| field.is_empty() || !field.chars().all(field_chars))
    {
        return Err(shape.to_owned());
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(cron)
        .map_err(|err| format!("is not a valid cron pattern: {err}"))
}

/// The body of `PUT /v1/schedules/{name}`. Its OpenAPI schema is written out
/// in [`schedule_schemas`], as the job template's depends on the job types.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDefinition {
    /// The cron pattern.
    pub cron: String,
    /// The IANA zone the pattern is read in (default `UTC`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// The job each occurrence enqueues.
    pub job: JobTemplate,
    /// A paused schedule enqueues nothing.
    #[serde(default)]
    pub paused: bool,
}

fn default_timezone() -> String {
    DEFAULT_TIMEZONE.to_owned()
}

/// The job a schedule enqueues: a submit's type, payload and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The job's input.
    pub payload: Value,
    /// Claims allowed before a retryable error becomes final.
    pub max_attempts: Option<i32>,
    /// Longest a single attempt may run.
    pub timeout_seconds: Option<i32>,
}

impl JobTemplate {
    /// The submit this template stands for, to be checked as every submit is.
    pub fn submission(&self) -> JobSubmission {
        JobSubmission {
            job_type: self.job_type.clone(),
            payload: self.payload.clone(),
            idempotency_key: None,
            max_attempts: self.max_attempts,
            run_at: None,
            delay_seconds: None,
            timeout_seconds: self.timeout_seconds,
            callback_url: None,
        }
    }
}

/// A schedule as stored, and as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Schedule {
    /// The schedule's name, unique per tenant; its jobs carry it as `schedule`.
    pub name: String,
    /// The cron pattern: 5 fields, or 6 with seconds first.
    pub cron: String,
    /// The IANA time zone the pattern is read in.
    pub timezone: String,
    /// The job each occurrence enqueues, with its limits resolved.
    #[sqlx(flatten)]
    pub job: ScheduledJob,
    /// True while the schedule enqueues nothing.
    pub paused: bool,
    /// When the next job is enqueued; null while paused.
    pub next_run_at: Option<DateTime<Utc>>,
    /// The occurrence the last job was enqueued for.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The last job enqueued (finished jobs are deleted after their retention).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub last_job_id: Option<JobId>,
    /// When the schedule was created.
    pub created_at: DateTime<Utc>,
    /// When a client last changed it.
    pub updated_at: DateTime<Utc>,
}

/// The job a schedule enqueues, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct ScheduledJob {
    /// The job type.
    #[serde(rename = "type")]
    pub job_type: String,
    /// The job's input.
    pub payload: Value,
    /// Claims allowed before a retryable error becomes final.
    pub max_attempts: i32,
    /// Longest a single attempt may run.
    pub timeout_seconds: i32,
}

/// The component name of one job type's template schema: `HttpJobTemplate`.
fn template_name(payload: &str) -> String {
    format!("{}JobTemplate", payload.trim_end_matches("Payload"))
}

/// The OpenAPI components behind [`ScheduleDefinition`] for these limits and
/// job types: `ScheduleDefinition`, `JobTemplate` (one of the types, by
/// `type`) and one template per type, whose payloads are the components
/// [`crate::submission::submission_schemas`] adds.
pub fn schedule_schemas(
    limits: &SubmissionLimits,
    payloads: &[PayloadSchema],
) -> Vec<(String, RefOr<Schema>)> {
    let mut discriminator = Discriminator::new("type");
    let mut one_of = OneOfBuilder::new().description(Some(
        "The job a schedule enqueues: a `type`, the payload that type takes, and its limits.",
    ));
    let mut schemas = Vec::with_capacity(payloads.len() + 2);
    for payload in payloads {
        let name = template_name(&payload.component);
        discriminator.mapping.insert(
            payload.job_type.to_owned(),
            format!("#/components/schemas/{name}"),
        );
        one_of = one_of.item(Ref::from_schema_name(name.clone()));
        schemas.push((name, template(payload.job_type, &payload.component, limits)));
    }
    schemas.push((
        "JobTemplate".to_owned(),
        one_of.discriminator(Some(discriminator)).into(),
    ));
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| zone.name())
        .collect();
    let definition = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A periodic schedule: a cron pattern read in a time zone, and the job each \
             occurrence enqueues.",
        ))
        .property(
            "cron",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(CRON_PATTERN))
                .max_length(Some(MAX_CRON_CHARS))
                .description(Some(
                    "5 fields (minute hour day-of-month month day-of-week), or 6 with seconds \
                     first, separated by single spaces: values, names (`MON`, `JAN`), `*`, \
                     ranges, steps, lists, `L`, `W` and `#`. A pattern that never matches a \
                     date is refused.",
                )),
        )
        .property(
            "timezone",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(zones))
                .default(Some(Value::from(DEFAULT_TIMEZONE)))
                .description(Some(
                    "The IANA time zone the pattern is read in (default `UTC`).",
                )),
        )
        .property("job", Ref::from_schema_name("JobTemplate"))
        .property(
            "paused",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .default(Some(Value::Bool(false)))
                .description(Some("A paused schedule enqueues nothing (default false).")),
        )
        .required("cron")
        .required("job")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    schemas.push(("ScheduleDefinition".to_owned(), definition.into()));
    schemas
}

/// The template of one job type: its `type`, its payload, the limits.
fn template(job_type: &str, payload: &str, limits: &SubmissionLimits) -> RefOr<Schema> {
    job_fields(job_type, payload, limits)
        .description(Some(format!("A job of type `{job_type}`.")))
        .into()
}

/// A stand-in: the schema depends on the job types and the limits, so each
/// server's document puts [`schedule_schemas`] in its components instead.
impl PartialSchema for ScheduleDefinition {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .required("cron")
            .required("job")
            .into()
    }
}

impl ToSchema for ScheduleDefinition {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ScheduleDefinition")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a valid test time")
            .with_timezone(&Utc)
    }

    fn schedule(cron: &str, timezone: &str) -> CronSchedule {
        CronSchedule::parse(cron, timezone, utc("2026-01-01T00:00:00Z"))
            .expect("a valid test schedule")
    }

    /// The occurrences after `from`, `count` of them.
    fn occurrences(schedule: &CronSchedule, from: &str, count: usize) -> Vec<String> {
        let mut at = utc(from);
        let mut found = Vec::new();
        for _ in 0..count {
            at = schedule.next_after(at).expect("another occurrence");
            found.push(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        found
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|error| error.field).collect()
    }

    #[test]
    fn five_fields_run_on_the_minute_and_six_on_the_second() {
        assert_eq!(
            occurrences(&schedule("0 2 * * *", "UTC"), "2026-01-01T00:00:00Z", 2),
            ["2026-01-01T02:00:00Z", "2026-01-02T02:00:00Z"]
        );
        assert_eq!(
            occurrences(
                &schedule("* * * * * *", "UTC"),
                "2026-01-01T00:00:00.500Z",
                3
            ),
            [
                "2026-01-01T00:00:01Z",
                "2026-01-01T00:00:02Z",
                "2026-01-01T00:00:03Z"
            ]
        );
    }

    #[test]
    fn the_pattern_is_read_on_the_wall_clock_of_its_time_zone() {
        // 02:00 in Paris is 01:00 UTC in winter and 00:00 UTC in summer.
        let nightly = schedule("0 2 * * *", "Europe/Paris");
        assert_eq!(
            occurrences(&nightly, "2026-01-10T00:00:00Z", 1),
            ["2026-01-10T01:00:00Z"]
        );
        assert_eq!(
            occurrences(&nightly, "2026-07-10T00:00:00Z", 1),
            ["2026-07-11T00:00:00Z"]
        );
    }

    #[test]
    fn a_fixed_time_in_the_spring_forward_gap_runs_at_the_end_of_the_gap() {
        // Paris, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC), so 02:30 never happens.
        let at_half_past_two = schedule("30 2 * * *", "Europe/Paris");
        assert_eq!(
            occurrences(&at_half_past_two, "2026-03-28T00:00:00Z", 3),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST, the first instant after the gap
                "2026-03-30T00:30:00Z", // 02:30 CEST
            ]
        );
    }

    #[test]
    fn a_fixed_time_that_happens_twice_on_the_fall_back_day_runs_once_at_the_first() {
        // Paris, 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC), so 02:30 happens twice.
        let at_half_past_two = schedule("30 2 * * *", "Europe/Paris");
        assert_eq!(
            occurrences(&at_half_past_two, "2026-10-24T00:00:00Z", 3),
            [
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST, the first of the two
                "2026-10-26T01:30:00Z", // 02:30 CET
            ]
        );
    }

    #[test]
    fn an_hourly_pattern_skips_the_gap_and_runs_in_both_repeated_hours() {
        let hourly = schedule("30 * * * *", "Europe/Paris");
        assert_eq!(
            occurrences(&hourly, "2026-03-29T00:00:00Z", 2),
            [
                "2026-03-29T00:30:00Z", // 01:30 CET
                "2026-03-29T01:30:00Z", // 03:30 CEST: 02:30 did not happen
            ]
        );
        assert_eq!(
            occurrences(&hourly, "2026-10-25T00:00:00Z", 3),
            [
                "2026-10-25T00:30:00Z", // 02:30 CEST
                "2026-10-25T01:30:00Z", // 02:30 CET, the same wall clock time again
                "2026-10-25T02:30:00Z", // 03:30 CET
            ]
        );
    }

    #[test]
    fn a_due_schedule_enqueues_its_occurrence_and_advances_past_now() {
        let every_minute = schedule("* * * * *", "UTC");
        let due = every_minute
            .due(utc("2026-01-01T10:00:00Z"), utc("2026-01-01T10:00:00.300Z"))
            .expect("due");
        assert_eq!(
            due,
            Occurrence {
                slot: utc("2026-01-01T10:00:00Z"),
                next: Some(utc("2026-01-01T10:01:00Z")),
            }
        );
    }

    #[test]
    fn a_schedule_is_not_due_before_its_next_run() {
        let every_minute = schedule("* * * * *", "UTC");
        assert_eq!(
            every_minute.due(utc("2026-01-01T10:01:00Z"), utc("2026-01-01T10:00:59.999Z")),
            None
        );
    }

    #[test]
    fn of_the_occurrences_missed_while_nothing_ran_only_the_latest_is_enqueued() {
        // Every 5 minutes, due since 10:00; the leader comes back at 12:07.
        let every_five = schedule("*/5 * * * *", "UTC");
        let due = every_five
            .due(utc("2026-01-01T10:00:00Z"), utc("2026-01-01T12:07:30Z"))
            .expect("due");
        assert_eq!(due.slot, utc("2026-01-01T12:05:00Z"));
        assert_eq!(due.next, Some(utc("2026-01-01T12:10:00Z")));
    }

    #[test]
    fn a_missed_nightly_run_across_the_fall_back_night_is_enqueued_once() {
        let nightly = schedule("30 2 * * *", "Europe/Paris");
        // Due at the first 02:30 (00:30 UTC); the leader comes back during the second.
        let due = nightly
            .due(utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:45:00Z"))
            .expect("due");
        assert_eq!(due.slot, utc("2026-10-25T00:30:00Z"));
        assert_eq!(due.next, Some(utc("2026-10-26T01:30:00Z")));
    }

    #[test]
    fn slot_keys_name_the_schedule_and_the_instant_in_utc() {
        let slot = chrono_tz::Europe::Paris
            .with_ymd_and_hms(2026, 3, 29, 3, 0, 0)
            .single()
            .expect("a real instant")
            .with_timezone(&Utc);
        assert_eq!(
            slot_key("nightly", slot),
            "schedule:nightly:2026-03-29T01:00:00Z"
        );
    }

    #[test]
    fn bad_patterns_and_zones_are_refused_at_their_field() {
        let now = utc("2026-01-01T00:00:00Z");
        for cron in [
            "",
            "* * * *",
            "* * * * * * *",
            "*  * * * *",
            " * * * * *",
            "@daily",
            "61 * * * *",
            "* 24 * * *",
            "* * * 13 *",
            "* * * * MONDAY",
            "*/0 * * * *",
            "0 0 30 2 *",
        ] {
            let errors = CronSchedule::parse(cron, "UTC", now).expect_err(cron);
            assert_eq!(fields(errors), ["cron"], "{cron:?}");
        }
        for zone in ["", "Mars/Olympus", "europe/paris", "+02:00"] {
            let errors = CronSchedule::parse("0 2 * * *", zone, now).expect_err(zone);
            assert_eq!(fields(errors), ["timezone"], "{zone:?}");
        }
        let both = CronSchedule::parse("nope", "nowhere", now).expect_err("both bad");
        assert_eq!(fields(both), ["timezone", "cron"]);
    }

    #[test]
    fn every_accepted_pattern_has_the_shape_the_openapi_document_states() {
        for cron in [
            "0 2 * * *",
            "*/15 9-17 * * MON-FRI",
            "0 0 L * ?",
            "0 0 12 ? JAN 5#2",
        ] {
            assert!(
                CronSchedule::parse(cron, "UTC", utc("2026-01-01T00:00:00Z")).is_ok(),
                "{cron}"
            );
        }
    }

    #[test]
    fn names_are_those_of_job_types() {
        for name in ["nightly", "a", "report.daily_2-b"] {
            assert!(is_valid_name(name), "{name}");
        }
        let long = "a".repeat(101);
        for name in ["", "Nightly", "1st", "-x", "a b", "a/b", "ü", long.as_str()] {
            assert!(!is_valid_name(name), "{name}");
        }
    }
}

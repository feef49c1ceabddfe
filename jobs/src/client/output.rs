//! How answers are printed: aligned tables and `field  value` listings for
//! people, the API's objects as JSON for scripts. Text from the API is
//! printed with its control characters escaped, so a job's payload or error
//! cannot move the cursor or recolour a terminal.

use chrono::{DateTime, SecondsFormat, Utc};
use jobs_client::{Handler, Job, JobEvent, JobStats, JobType, Schedule, StatusCounts, TargetAuth};
use serde::Serialize;
use serde_json::Value;
use std::io::{self, Write};

/// Where the answer goes, and in which form.
pub struct Output {
    json: bool,
}

impl Output {
    /// Tables for people, or JSON when `json`.
    pub fn new(json: bool) -> Output {
        Output { json }
    }

    /// True when answers are printed as JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or else `text` of it.
    pub fn print<T: Serialize + ?Sized>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if self.json {
            serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::other)?;
            writeln!(out)
        } else {
            out.write_all(text().as_bytes())
        }
    }

    /// Prints a line for people (nothing in JSON mode).
    pub fn line(&self, line: &str) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        writeln!(io::stdout().lock(), "{line}")
    }
}

/// Writes `line` to stderr, for people; a closed stderr is no reason to
/// stop (`eprintln!` would panic).
pub fn note(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Columns of text, each as wide as its widest cell, two spaces apart.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; each cell is made one safe line.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|cell| one_line(cell)).collect());
    }

    /// The table as text, or `empty` when it has no rows.
    pub fn render(&self, empty: &str) -> String {
        if self.rows.is_empty() {
            return format!("{empty}\n");
        }
        let header: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|column| {
                lines
                    .iter()
                    .map(|line| line.get(column).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for line in lines {
            let mut cells = Vec::with_capacity(widths.len());
            for (column, width) in widths.iter().enumerate() {
                let cell = line.get(column).map(String::as_str).unwrap_or_default();
                cells.push(format!("{cell:<width$}"));
            }
            text.push_str(cells.join("  ").trim_end());
            text.push('\n');
        }
        text
    }
}

/// `field  value` lines, the fields aligned; a value of several lines is
/// indented under its field.
pub fn listing(fields: &[(&str, String)]) -> String {
    let width = fields
        .iter()
        .map(|(field, _)| field.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (field, value) in fields {
        let value = escape_controls(value, true);
        let value = value.replace('\n', &format!("\n{:width$}  ", ""));
        text.push_str(&format!("{field:<width$}  {value}\n"));
    }
    text
}

/// `text` with control characters escaped (`\u{1b}`), newlines kept when
/// `keep_newlines`.
fn escape_controls(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !(keep_newlines && c == '\n') {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `text` as one line: white space runs folded, control characters escaped.
pub fn one_line(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    escape_controls(&folded, false)
}

/// `text` cut to `most` characters, with `…` where it was cut.
fn cut(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A time as RFC 3339 to the second, or `-`.
pub fn time(time: Option<&DateTime<Utc>>) -> String {
    time.map_or_else(
        || "-".to_owned(),
        |time| time.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

fn json_or_dash(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(value) => value.to_string(),
    }
}

fn pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A job's status, with why it failed.
fn status(job: &Job) -> String {
    match job.failure_reason {
        Some(reason) => format!("{} ({reason})", job.status),
        None => job.status.to_string(),
    }
}

/// One job, field by field.
pub fn job(job: &Job) -> String {
    listing(&[
        ("id", job.id.to_string()),
        ("type", job.job_type.clone()),
        ("status", status(job)),
        (
            "attempts",
            format!("{} of {}", job.attempts, job.max_attempts),
        ),
        ("payload", pretty(&job.payload)),
        (
            "result",
            job.result.as_ref().map_or_else(|| "-".to_owned(), pretty),
        ),
        ("error", or_dash(job.error.as_deref())),
        ("timeout", format!("{} s", job.timeout_seconds)),
        ("run at", time(Some(&job.run_at))),
        ("created", time(Some(&job.created_at))),
        ("started", time(job.started_at.as_ref())),
        ("finished", time(job.finished_at.as_ref())),
        ("updated", time(Some(&job.updated_at))),
        ("idempotency key", or_dash(job.idempotency_key.as_deref())),
        ("callback url", or_dash(job.callback_url.as_deref())),
        ("schedule", or_dash(job.schedule.as_deref())),
    ])
}

/// Jobs, one a row.
pub fn jobs(jobs: &[Job]) -> String {
    let mut table = Table::new(&[
        "ID", "TYPE", "STATUS", "ATTEMPTS", "CREATED", "FINISHED", "ERROR",
    ]);
    for job in jobs {
        table.row(vec![
            job.id.to_string(),
            job.job_type.clone(),
            status(job),
            format!("{}/{}", job.attempts, job.max_attempts),
            time(Some(&job.created_at)),
            time(job.finished_at.as_ref()),
            cut(job.error.as_deref().unwrap_or("-"), 60),
        ]);
    }
    table.render("no jobs")
}

/// The counts of one row of `stats`: one cell per status.
fn count_cells(counts: &StatusCounts) -> [String; 5] {
    [
        counts.pending,
        counts.processing,
        counts.completed,
        counts.failed,
        counts.cancelled,
    ]
    .map(|count| count.to_string())
}

/// The tenant's job stats: a table by type (with the total first), the last
/// hour's throughput and the oldest waiting job.
pub fn stats(stats: &JobStats) -> String {
    let mut table = Table::new(&[
        "TYPE",
        "PENDING",
        "PROCESSING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
    ]);
    let mut all = vec!["(all)".to_owned()];
    all.extend(count_cells(&stats.by_status));
    table.row(all);
    for by_type in &stats.by_type {
        let mut row = vec![by_type.job_type.clone()];
        row.extend(count_cells(&by_type.counts));
        table.row(row);
    }
    let (completed, failed) = stats.per_minute.iter().fold((0, 0), |(c, f), minute| {
        (c + minute.completed, f + minute.failed)
    });
    let busiest = stats
        .per_minute
        .iter()
        .max_by_key(|minute| minute.completed + minute.failed)
        .filter(|minute| minute.completed + minute.failed > 0)
        .map_or_else(
            || "-".to_owned(),
            |minute| {
                format!(
                    "{} ({} completed, {} failed)",
                    time(Some(&minute.minute)),
                    minute.completed,
                    minute.failed
                )
            },
        );
    let oldest = stats.oldest_pending.as_ref().map_or_else(
        || "none waiting".to_owned(),
        |oldest| format!("{} s ({})", oldest.age_seconds, oldest.id),
    );
    let mut text = table.render("no jobs");
    text.push('\n');
    text.push_str(&listing(&[
        (
            "last hour",
            format!("{completed} completed, {failed} failed"),
        ),
        ("busiest minute", busiest),
        ("oldest pending", oldest),
        ("as of", time(Some(&stats.as_of))),
    ]));
    text
}

/// A job's history, one transition a row.
pub fn events(events: &[JobEvent]) -> String {
    let mut table = Table::new(&["TIME", "EVENT", "FROM", "TO", "ATTEMPT", "DETAIL"]);
    for event in events {
        table.row(vec![
            time(Some(&event.created_at)),
            event.event.clone(),
            event
                .from_status
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            event.to_status.to_string(),
            event.attempt.to_string(),
            or_dash(event.detail.as_deref()),
        ]);
    }
    table.render("no events")
}

/// What runs a type, in a few words.
fn handler(job_type: &JobType) -> String {
    match &job_type.handler {
        None => "built-in".to_owned(),
        Some(Handler::Builtin(name)) => format!("built-in {name}"),
        Some(Handler::Target(target)) => {
            let auth = match &target.auth {
                TargetAuth::None => "no auth",
                TargetAuth::Oidc { .. } => "oidc",
                TargetAuth::Hmac => "hmac",
                _ => "other auth",
            };
            format!(
                "{} {} ({auth})",
                target.method.as_deref().unwrap_or("POST"),
                target.url
            )
        }
        Some(_) => "another handler".to_owned(),
    }
}

fn number(value: Option<i32>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| value.to_string())
}

/// Job types, one a row.
pub fn job_types(job_types: &[JobType]) -> String {
    let mut table = Table::new(&["NAME", "HANDLER", "MAX ATTEMPTS", "TIMEOUT", "UPDATED"]);
    for job_type in job_types {
        table.row(vec![
            job_type.name.clone(),
            handler(job_type),
            number(job_type.max_attempts),
            number(job_type.timeout_seconds),
            time(job_type.updated_at.as_ref()),
        ]);
    }
    table.render("no job types")
}

/// One job type, field by field (with its secret, when one was just made).
pub fn job_type(job_type: &JobType, secret: Option<&str>) -> String {
    let mut fields = vec![
        ("name", job_type.name.clone()),
        ("handler", handler(job_type)),
        (
            "payload schema",
            json_or_dash(job_type.payload_schema.as_ref()),
        ),
        ("max attempts", number(job_type.max_attempts)),
        ("timeout", number(job_type.timeout_seconds)),
        (
            "retry",
            job_type
                .retry
                .as_ref()
                .map_or_else(|| "-".to_owned(), |r| one_line(&pretty(r))),
        ),
        (
            "retention",
            job_type
                .retention
                .as_ref()
                .map_or_else(|| "-".to_owned(), |r| one_line(&pretty(r))),
        ),
        ("created", time(job_type.created_at.as_ref())),
        ("updated", time(job_type.updated_at.as_ref())),
    ];
    if let Some(secret) = secret {
        fields.push(("secret", format!("{secret}  (shown this once: keep it)")));
    }
    listing(&fields)
}

/// Schedules, one a row.
pub fn schedules(schedules: &[Schedule]) -> String {
    let mut table = Table::new(&[
        "NAME", "CRON", "TIMEZONE", "TYPE", "STATE", "NEXT RUN", "LAST RUN",
    ]);
    for schedule in schedules {
        table.row(vec![
            schedule.name.clone(),
            schedule.cron.clone(),
            schedule.timezone.clone(),
            schedule.job.job_type.clone(),
            state(schedule).to_owned(),
            time(schedule.next_run_at.as_ref()),
            time(schedule.last_run_at.as_ref()),
        ]);
    }
    table.render("no schedules")
}

fn state(schedule: &Schedule) -> &'static str {
    if schedule.paused { "paused" } else { "active" }
}

/// One schedule, field by field.
pub fn schedule(schedule: &Schedule) -> String {
    listing(&[
        ("name", schedule.name.clone()),
        ("cron", schedule.cron.clone()),
        ("timezone", schedule.timezone.clone()),
        ("state", state(schedule).to_owned()),
        ("job type", schedule.job.job_type.clone()),
        ("payload", pretty(&schedule.job.payload)),
        ("max attempts", schedule.job.max_attempts.to_string()),
        ("timeout", format!("{} s", schedule.job.timeout_seconds)),
        ("next run", time(schedule.next_run_at.as_ref())),
        ("last run", time(schedule.last_run_at.as_ref())),
        (
            "last job",
            schedule
                .last_job_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
        ),
        ("created", time(Some(&schedule.created_at))),
        ("updated", time(Some(&schedule.updated_at))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&["ID", "STATUS", "ERROR"]);
        table.row(vec!["1".into(), "completed".into(), "-".into()]);
        table.row(vec!["22".into(), "failed".into(), "boom\nagain".into()]);
        assert_eq!(
            table.render("none"),
            "ID  STATUS     ERROR\n1   completed  -\n22  failed     boom again\n"
        );
        assert_eq!(Table::new(&["ID"]).render("no jobs"), "no jobs\n");
    }

    #[test]
    fn text_from_the_api_cannot_drive_the_terminal() {
        assert_eq!(one_line("red \u{1b}[31mtext"), "red \\u{1b}[31mtext");
        assert_eq!(
            listing(&[
                ("error", "two\nlines\u{7}".to_owned()),
                ("id", "1".to_owned())
            ]),
            "error  two\n       lines\\u{7}\nid     1\n"
        );
    }

    #[test]
    fn long_cells_are_cut() {
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
    }
}

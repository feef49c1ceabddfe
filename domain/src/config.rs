//! Settings shared by every binary, read from the environment (or flags) with clap.

use clap::{Args, ValueEnum};
use sqlx::postgres::PgConnectOptions;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// Where a server listens and how long it drains at shutdown.
#[derive(Debug, Clone, Args)]
pub struct ListenSettings {
    /// Address to listen on.
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port to listen on (Cloud Run sets it).
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Seconds in-flight requests may take to finish after SIGTERM.
    #[arg(long = "shutdown-grace", env = "SHUTDOWN_GRACE_SECONDS", value_name = "SHUTDOWN_GRACE_SECONDS",
          default_value = "10", value_parser = parse_seconds)]
    pub shutdown_grace: Duration,
}

impl ListenSettings {
    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/jobs",
        value_parser = parse_database_url,
        hide_default_value = false
    )]
    pub url: PgConnectOptions,
    /// Most connections the pool opens.
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        value_name = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 20,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before answering 503.
    #[arg(
        long = "database-acquire-timeout",
        env = "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        value_name = "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        default_value = "5",
        value_parser = parse_seconds
    )]
    pub acquire_timeout: Duration,
}

fn parse_database_url(value: &str) -> Result<PgConnectOptions, String> {
    PgConnectOptions::from_str(value)
        .map_err(|err| format!("not a PostgreSQL URL (postgres://user@host:port/db): {err}"))
}

/// Parses a whole number of seconds, at least one.
pub fn parse_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("`{value}` is not a whole number of seconds >= 1")),
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
    }
}

/// Parses seconds with an optional fraction (`0.2`, `5`), more than zero.
pub fn parse_fractional_seconds(value: &str) -> Result<Duration, String> {
    match value.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() && seconds <= 1e9 => {
            Ok(Duration::from_secs_f64(seconds))
        }
        _ => Err(format!("`{value}` is not a number of seconds > 0")),
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line in Cloud Logging's format.
    Json,
    /// Readable text for a terminal.
    Pretty,
}

/// Logging settings; the filter itself comes from `RUST_LOG`.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// `json` for Cloud Logging, `pretty` for a terminal.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub format: LogFormat,
}

/// Where jobs are published.
#[derive(Debug, Clone, Args)]
pub struct PubSubSettings {
    /// The Google Cloud project that owns the topic.
    #[arg(
        long = "google-cloud-project",
        env = "GOOGLE_CLOUD_PROJECT",
        value_name = "GOOGLE_CLOUD_PROJECT",
        default_value = "local-project"
    )]
    pub project: String,
    /// `host:port` of a Pub/Sub emulator; when set, every client talks to it with anonymous credentials.
    #[arg(
        long = "pubsub-emulator-host",
        env = "PUBSUB_EMULATOR_HOST",
        value_name = "PUBSUB_EMULATOR_HOST"
    )]
    pub emulator_host: Option<String>,
    /// The topic jobs are published to.
    #[arg(
        long = "jobs-topic",
        env = "JOBS_TOPIC",
        value_name = "JOBS_TOPIC",
        default_value = crate::job_message::JOBS_TOPIC
    )]
    pub jobs_topic: String,
}

impl PubSubSettings {
    /// The topic's full resource name.
    pub fn topic_path(&self) -> String {
        format!("projects/{}/topics/{}", self.project, self.jobs_topic)
    }
}

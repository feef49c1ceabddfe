//! How to reach PostgreSQL, and the pool built from it.

use super::parse_seconds;
use clap::Args;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

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

impl DatabaseSettings {
    /// A pool that connects on first use, so a process starts (and reports
    /// not-ready) while the database is still coming up.
    ///
    /// It replaces dead connections: sqlx pings a connection when it comes
    /// back to the pool and closes it if it failed (as it does after any
    /// connection-level error), and `test_before_acquire` (sqlx's default,
    /// set here so it is not lost) pings an idle one before lending it, so a
    /// connection the server terminated while idle (`pg_terminate_backend`,
    /// a failover, a restart) is dropped and a new one opened. A statement
    /// that loses its connection mid-flight fails with
    /// [`jobs_domain::StoreError::Unavailable`]; it is never retried here,
    /// since it may have committed.
    pub fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(true)
            .connect_lazy_with(self.url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_pings_an_idle_connection_before_lending_it() {
        let settings = DatabaseSettings {
            url: parse_database_url("postgres://postgres@127.0.0.1:5432/jobs").expect("a URL"),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(1),
        };
        assert!(settings.pool().options().get_test_before_acquire());
    }
}

//! How to reach PostgreSQL, and the pool built from it.

use super::parse_seconds;
use clap::Args;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
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

/// How long a connection may sit idle in the pool before it is pinged on
/// its way out: long enough that a busy pool (connections reused within
/// milliseconds) pays no extra round trip per statement, short enough that
/// one the server dropped while idle is caught before a request uses it.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

impl DatabaseSettings {
    /// A pool that connects on first use, so a process starts (and reports
    /// not-ready) while the database is still coming up.
    ///
    /// It replaces dead connections: sqlx pings a connection when it comes
    /// back to the pool and closes it if it failed (as it does after any
    /// connection-level error), and one idle for [`PING_WHEN_IDLE_FOR`] or
    /// more is pinged again before it is lent, so a connection the server
    /// terminated while idle (`pg_terminate_backend`, a failover, a restart)
    /// is dropped and a new one opened. sqlx's `test_before_acquire` would
    /// ping before every statement: a third round trip for each on a busy
    /// pool. A statement that loses its connection mid-flight fails with
    /// [`jobs_domain::StoreError::Unavailable`]; it is never retried here,
    /// since it may have committed.
    pub fn pool(&self) -> PgPool {
        self.pool_pinging_after(PING_WHEN_IDLE_FOR)
    }

    fn pool_pinging_after(&self, idle: Duration) -> PgPool {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= idle {
                        // An error closes the connection and the pool tries another.
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(self.url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> DatabaseSettings {
        DatabaseSettings {
            url: parse_database_url(url).expect("a URL"),
            max_connections: 1,
            acquire_timeout: Duration::from_secs(5),
        }
    }

    fn server_url() -> String {
        std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must name a PostgreSQL server for this test")
    }

    #[tokio::test]
    async fn a_connection_the_server_dropped_while_idle_is_replaced_before_it_is_lent() {
        let url = server_url();
        // Idle for at least zero: every acquire pings, as an idle one's would.
        let pool = settings(&url).pool_pinging_after(Duration::ZERO);
        let first: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("the first statement runs");
        let mut admin = sqlx::PgConnection::connect(&url)
            .await
            .expect("PostgreSQL is reachable at DATABASE_URL");
        let terminated: bool = sqlx::query_scalar("select pg_terminate_backend($1, 5000)")
            .bind(first)
            .fetch_one(&mut admin)
            .await
            .expect("the backend can be terminated");
        assert!(terminated);
        let second: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("the dropped connection is replaced, not lent");
        assert_ne!(first, second);
    }
}

//! How to reach PostgreSQL, and the pool built from it.

use super::parse_seconds;
use clap::Args;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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

/// How long after the pool opened a connection every connection is pinged
/// before it is lent, however briefly it was idle. The pool opens one at
/// start-up, when it grows, and when it replaces one the server dropped; in
/// the last case the server (a failover, a restart, `pg_terminate_backend`)
/// has usually dropped its siblings too, and a ping catches each of them
/// before a request's statement fails on it.
const PING_ALL_AFTER_A_CONNECT_FOR: Duration = Duration::from_secs(1);

/// When the pool last opened a connection (`None`: never), shared by its hooks.
#[derive(Clone, Default)]
struct LastConnect(Arc<Mutex<Option<Instant>>>);

impl LastConnect {
    fn record(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    fn within(&self, window: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < window)
    }
}

impl DatabaseSettings {
    /// A pool that connects on first use, so a process starts (and reports
    /// not-ready) while the database is still coming up.
    ///
    /// It replaces dead connections: sqlx pings a connection when it comes
    /// back to the pool and closes it if it failed (as it does after any
    /// connection-level error). One is pinged again before it is lent when
    /// it sat idle for [`PING_WHEN_IDLE_FOR`] or more, or when the pool
    /// opened any connection in the last [`PING_ALL_AFTER_A_CONNECT_FOR`],
    /// so a connection the server terminated while idle is dropped and a new
    /// one opened. sqlx's `test_before_acquire` would ping before every
    /// statement: a third round trip for each on a busy, settled pool. A
    /// statement that loses its connection mid-flight fails with
    /// [`jobs_domain::StoreError::Unavailable`]; it is never retried here,
    /// since it may have committed.
    pub fn pool(&self) -> PgPool {
        self.pool_pinging(PING_WHEN_IDLE_FOR, PING_ALL_AFTER_A_CONNECT_FOR)
    }

    fn pool_pinging(&self, idle: Duration, after_a_connect: Duration) -> PgPool {
        let connected = LastConnect::default();
        let acquiring = connected.clone();
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
            .after_connect(move |_, _| {
                connected.record();
                Box::pin(async { Ok(()) })
            })
            .before_acquire(move |conn, meta| {
                let unsettled = acquiring.within(after_a_connect);
                Box::pin(async move {
                    if unsettled || meta.idle_for >= idle {
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

    /// Runs a statement on `pool`, has the server terminate the backend it
    /// ran on, and runs another: the statement must land on a new backend.
    async fn assert_the_terminated_connection_is_replaced(pool: PgPool, url: &str) {
        let first: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("the first statement runs");
        let mut admin = sqlx::PgConnection::connect(url)
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

    #[tokio::test]
    async fn a_connection_the_server_dropped_while_idle_is_replaced_before_it_is_lent() {
        let url = server_url();
        // Idle for at least zero, and no connect counts as recent: only the
        // idle rule can ping.
        let pool = settings(&url).pool_pinging(Duration::ZERO, Duration::ZERO);
        assert_the_terminated_connection_is_replaced(pool, &url).await;
    }

    #[tokio::test]
    async fn a_connection_dropped_soon_after_the_pool_connected_is_replaced_however_briefly_idle() {
        let url = server_url();
        // No connection is ever idle long enough to be pinged for it: only the
        // recent connect can ping, as during a failover's reconnects.
        let hour = Duration::from_secs(3600);
        let pool = settings(&url).pool_pinging(hour, hour);
        assert_the_terminated_connection_is_replaced(pool, &url).await;
    }
}

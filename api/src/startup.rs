//! Building and running the API: `Application::build(config)`, `port()`, `run_until_stopped()`.

use crate::auth::ApiKeys;
use crate::config::{ApiConfig, ConfigError};
use crate::rate_limit::TenantRateLimit;
use crate::routes::app;
use crate::state::AppState;
use axum::Router;
use jobs_domain::job_publisher::{JobPublisher, PublishError};
use jobs_domain::{JobStore, Metrics, db, shutdown};
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Migrations failed (`MIGRATE_ON_START`).
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The Pub/Sub publisher could not be created.
    #[error(transparent)]
    Publisher(#[from] PublishError),
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from HOST and PORT.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// A bound, not yet serving, API.
pub struct Application {
    listener: TcpListener,
    router: Router,
    shutdown_grace: Duration,
}

impl Application {
    /// Builds the state from configuration and binds the listener.
    pub async fn build(config: &ApiConfig) -> Result<Self, StartupError> {
        let limits = config.limits()?;
        let pool = db::pool(&config.database);
        if config.migrate_on_start {
            db::migrate(&pool).await?;
        }
        let jobs = JobStore::new(pool.clone());
        let metrics = Metrics::new();
        let publisher = JobPublisher::new(&config.pubsub, jobs.clone(), metrics.clone()).await?;
        let state = AppState {
            jobs,
            publisher,
            api_keys: ApiKeys::new(pool, config.api_key_cache),
            rate_limit: TenantRateLimit::new(config.tenant_quota()?),
            limits,
            max_body_bytes: config.max_body_bytes,
            metrics,
        };
        let addr = config.listen.addr();
        Self::bind(state, addr, config.listen.shutdown_grace).await
    }

    /// Binds `addr` (port 0 picks a free port) to serve `state`.
    pub async fn bind(
        state: AppState,
        addr: SocketAddr,
        shutdown_grace: Duration,
    ) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Application {
            listener,
            router: app(state),
            shutdown_grace,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `stop` resolves, then stops accepting and gives
    /// in-flight requests up to the shutdown grace to finish.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (stopping, stopped) = oneshot::channel::<()>();
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            stop.await;
            let _ = stopping.send(());
        });
        shutdown::drain(serve.into_future(), stopped, self.shutdown_grace).await
    }
}

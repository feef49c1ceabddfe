//! Building and running the worker: `Application::build(config)`, `port()`, `run_until_stopped()`.

use crate::config::{ConfigError, WorkerConfig};
use crate::handlers::{Registry, RegistryError};
use crate::push_auth::PushVerifier;
use crate::routes::app;
use crate::state::AppState;
use axum::Router;
use jobs_domain::job_publisher::{JobPublisher, PublishError};
use jobs_domain::reconciler::Reconciler;
use jobs_domain::{JobStore, Metrics, db, shutdown};
use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The handlers do not cover the job types, or one cannot be set up.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The reconciler's Pub/Sub publisher could not be created.
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

/// A bound, not yet serving, worker.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    shutdown_grace: Duration,
    reconciler: Option<Reconciler>,
}

impl Application {
    /// Checks the configuration, builds the state and binds the listener.
    pub async fn build(config: &WorkerConfig) -> Result<Self, StartupError> {
        let push_auth = config.push_auth()?;
        let registry = Registry::builtin(&config.handler_settings()?)?;
        let push_auth = match push_auth {
            Some(settings) => {
                tracing::info!(audience = %settings.audience, service_account = %settings.service_account, "push tokens are verified");
                Some(Arc::new(PushVerifier::new(settings)))
            }
            None => {
                tracing::warn!(
                    "PUSH_AUDIENCE is unset: pushes are not authenticated; set it in production"
                );
                None
            }
        };
        let jobs = JobStore::new(db::pool(&config.database));
        let metrics = Metrics::new();
        let publisher = JobPublisher::new(&config.pubsub, jobs.clone(), metrics.clone()).await?;
        let reconciler = Reconciler::new(jobs.clone(), publisher, config.reconciler);
        let state = AppState {
            jobs,
            registry: Arc::new(registry),
            push_auth,
            lease_grace: config.lease_grace,
            job_max_timeout: config.job_max_timeout,
            max_body_bytes: config.push_max_body_bytes,
            metrics,
        };
        let addr = config.listen.addr();
        let app = Self::bind(state, addr, config.listen.shutdown_grace).await?;
        Ok(Application {
            reconciler: Some(reconciler),
            ..app
        })
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
            reconciler: None,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves (and runs the reconciler, when built from configuration) until
    /// `stop` resolves, then stops accepting and gives in-flight
    /// deliveries up to the shutdown grace to finish. A delivery cut off is
    /// not lost: Pub/Sub redelivers it, and its lease expires.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (stopping, stopped) = oneshot::channel::<()>();
        let (reconciler_stop, reconciler_stopped) = watch::channel(false);
        if let Some(reconciler) = self.reconciler {
            let mut stopped = reconciler_stopped;
            tokio::spawn(reconciler.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }));
        }
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            stop.await;
            let _ = reconciler_stop.send(true);
            let _ = stopping.send(());
        });
        shutdown::drain(serve.into_future(), stopped, self.shutdown_grace).await
    }
}

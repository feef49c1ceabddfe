//! Binding and serving, written once for both servers: listen, run the
//! background tasks while serving, and on shutdown stop accepting, drain
//! in-flight requests for at most the grace, then run the stop hooks.

use crate::settings::ListenSettings;
use crate::shutdown;
use crate::startup_error::StartupError;
use axum::Router;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// A future that resolves once the server starts shutting down.
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send>>;

type Task = Box<dyn FnOnce(Stopping) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;
type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bound, not yet serving, HTTP server with its background work.
pub struct Server {
    listener: TcpListener,
    router: Router,
    shutdown_grace: Duration,
    tasks: Vec<Task>,
    on_stop: Vec<Hook>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("port", &self.port())
            .field("tasks", &self.tasks.len())
            .field("on_stop", &self.on_stop.len())
            .finish()
    }
}

impl Server {
    /// Binds where `listen` says (port 0 picks a free port) to serve `router`.
    pub async fn bind(listen: &ListenSettings, router: Router) -> Result<Self, StartupError> {
        let addr = listen.addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Server {
            listener,
            router,
            shutdown_grace: listen.shutdown_grace,
            tasks: Vec::new(),
            on_stop: Vec::new(),
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Runs `task` while serving; it is given a future that resolves when
    /// shutdown begins, and should end soon after.
    pub fn with_task<F, Fut>(mut self, task: F) -> Self
    where
        F: FnOnce(Stopping) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push(Box::new(move |stopping| Box::pin(task(stopping))));
        self
    }

    /// Runs `hook` after the drain, before [`Server::run_until_stopped`]
    /// returns, for at most the shutdown grace (e.g. flushing publishes).
    pub fn on_stop(mut self, hook: impl Future<Output = ()> + Send + 'static) -> Self {
        self.on_stop.push(Box::pin(hook));
        self
    }

    /// Serves until `stop` resolves, then stops accepting, gives in-flight
    /// requests up to the shutdown grace to finish, and runs the stop hooks.
    /// A request cut off is not lost: its client (Pub/Sub too) retries.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let (stopping, stopped) = oneshot::channel::<()>();
        let (tasks_stop, tasks_stopped) = watch::channel(false);
        for task in self.tasks {
            let mut stopped = tasks_stopped.clone();
            tokio::spawn(task(Box::pin(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })));
        }
        let serve = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            stop.await;
            let _ = tasks_stop.send(true);
            let _ = stopping.send(());
        });
        let served = shutdown::drain(serve.into_future(), stopped, self.shutdown_grace).await;
        let hooks = futures::future::join_all(self.on_stop);
        if tokio::time::timeout(self.shutdown_grace, hooks)
            .await
            .is_err()
        {
            tracing::warn!("the stop hooks outlived the shutdown grace");
        }
        served
    }
}

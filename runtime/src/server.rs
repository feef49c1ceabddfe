//! Binding and serving, written once for both servers: listen, run the
//! background tasks while serving, and on shutdown stop accepting, drain
//! in-flight requests for at most the grace, then run the stop hooks.
//!
//! Connections are served with hyper directly rather than `axum::serve`,
//! which cannot bound how long a client takes to send its headers. Every
//! request is bounded three ways (`ListenSettings`): its headers (the
//! connection is closed), its body, counted from the headers (408, and the
//! connection closed), and the whole request with its handler (503). The body
//! has a bound of its own so that a worker's push, whose handler runs a job
//! for minutes, still cannot hold a connection by sending its body slowly.

use crate::settings::ListenSettings;
use crate::shutdown;
use crate::startup_error::StartupError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use jobs_problem::Problem;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A future that resolves once the server starts shutting down.
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send>>;

type Task = Box<dyn FnOnce(Stopping) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;
type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bound, not yet serving, HTTP server with its background work.
pub struct Server {
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
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
    /// Binds where `listen` says (port 0 picks a free port) to serve `router`
    /// within `listen`'s HTTP timeouts.
    pub async fn bind(listen: &ListenSettings, router: Router) -> Result<Self, StartupError> {
        let addr = listen.addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        let timeouts = Timeouts {
            body: listen.body_timeout,
            request: listen.request_timeout,
        };
        Ok(Server {
            listener,
            router: router.layer(from_fn_with_state(timeouts, bounded)),
            header_timeout: listen.header_timeout,
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
        let stop = async move {
            stop.await;
            let _ = tasks_stop.send(true);
            let _ = stopping.send(());
        };
        let serve = serve(self.listener, self.router, self.header_timeout, stop);
        let served = shutdown::drain(serve, stopped, self.shutdown_grace).await;
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

/// Accepts connections and serves `router` on each until `stop` resolves,
/// then stops accepting, lets every connection finish its request in flight,
/// and returns once all are closed.
async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    // HTTP/1.1 only, which is what Cloud Run sends a container: detecting
    // HTTP/2's preface first would wait for a silent client without a bound.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let service = TowerToHyperService::new(router);
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let mut stop = pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let connection = builder
            .serve_connection(TokioIo::new(stream), service.clone())
            .into_owned();
        let stopping = stopping.clone();
        connections.spawn(async move {
            let mut connection = pin!(connection);
            tokio::select! {
                served = connection.as_mut() => return log_connection_end(served),
                () = stopping.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            log_connection_end(connection.await);
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// A connection's end is the client's business (it left, or was too slow).
fn log_connection_end(served: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(err) = served {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// What `axum::serve` does: a failed accept of one connection is the
/// client's; any other (out of file descriptors) is waited out for a second
/// rather than spinning.
async fn accept_failed(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The bounds [`bounded`] holds every request to.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    body: Duration,
    request: Duration,
}

/// Where a request's body is: still arriving, all in (or never read), or cut.
const BODY_ARRIVING: u8 = 0;
const BODY_DONE: u8 = 1;
const BODY_TIMED_OUT: u8 = 2;

/// Middleware: gives the request's body until the body timeout to arrive and
/// the whole request until the request timeout to be answered. A body cut
/// fails the handler's read; whatever it then answers becomes a 408.
async fn bounded(State(timeouts): State<Timeouts>, request: Request, next: Next) -> Response {
    let body = Arc::new(AtomicU8::new(BODY_DONE));
    let request = request.map(|inner| {
        if inner.is_end_stream() {
            return inner;
        }
        body.store(BODY_ARRIVING, Ordering::Release);
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeouts.body)),
            state: body.clone(),
        })
    });
    let answered = tokio::time::timeout(timeouts.request, next.run(request)).await;
    match (answered, body.load(Ordering::Acquire)) {
        (Ok(response), BODY_DONE | BODY_ARRIVING) => response,
        // Still waiting for the body at the request timeout is the client's slowness too.
        (Ok(_), _) | (Err(_), BODY_TIMED_OUT | BODY_ARRIVING) => body_timed_out(timeouts.body),
        (Err(_), _) => {
            tracing::warn!(
                timeout_seconds = timeouts.request.as_secs(),
                "a request outlived HTTP_REQUEST_TIMEOUT_SECONDS"
            );
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!(
                    "the request was not answered within {} s; try again",
                    timeouts.request.as_secs()
                ),
            )
            .into_response_with(1)
        }
    }
}

/// The 408 of a body that did not arrive in time; the connection is closed,
/// since the rest of the body may still come.
fn body_timed_out(timeout: Duration) -> Response {
    tracing::info!(
        timeout_seconds = timeout.as_secs(),
        "a request body did not arrive within HTTP_BODY_TIMEOUT_SECONDS"
    );
    let mut response = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        format!(
            "the request body did not arrive within {} s",
            timeout.as_secs()
        ),
    )
    .into_response_with(0);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that fails once its deadline passes before it has all arrived.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    state: Arc<AtomicU8>,
}

/// The error a [`DeadlineBody`] fails with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.state.load(Ordering::Acquire) == BODY_TIMED_OUT {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() || this.inner.is_end_stream() {
                    this.state.store(BODY_DONE, Ordering::Release);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.state.store(BODY_TIMED_OUT, Ordering::Release);
                    Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! Starting and stopping an emulator: one listener serving gRPC (h2c) and
//! REST/JSON (HTTP/1.1), plus the handle tests and `main` hold.

use crate::broker::Broker;
use crate::config::EmulatorConfig;
use crate::grpc_publisher::PublisherService;
use crate::grpc_subscriber::SubscriberService;
use crate::proto::publisher_server::PublisherServer;
use crate::proto::subscriber_server::SubscriberServer;
use crate::rest;
use crate::setup::{Setup, SetupError};
use crate::stats::Stats;
use crate::time_scale::{TimeScale, TimeScaleError};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Pub/Sub accepts publish requests up to 10 MB; leave room for framing.
const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// How long shutdown waits for open requests before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The in-memory Pub/Sub emulator (local runs and tests only, never production).
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults: `127.0.0.1:8085`, project `local-project`, real time.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// Configures and starts an [`Emulator`].
#[derive(Debug, Default)]
pub struct EmulatorBuilder {
    config: EmulatorConfig,
    time_scale_error: Option<TimeScaleError>,
    setup: Setup,
}

/// The emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The time scale is below 1 or not a number.
    #[error(transparent)]
    TimeScale(#[from] TimeScaleError),
    /// The start-up topics and subscriptions could not be created.
    #[error(transparent)]
    Setup(#[from] SetupError),
}

impl EmulatorBuilder {
    /// Replaces every setting at once.
    pub fn config(mut self, config: EmulatorConfig) -> Self {
        self.config = config;
        self
    }

    /// Listens on `address` (`host:port`; port 0 picks a free one).
    pub fn bind(mut self, address: impl Into<String>) -> Self {
        self.config.bind = address.into();
        self
    }

    /// The project short setup names belong to.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.config.project = project.into();
        self
    }

    /// Divides every ack deadline and backoff by `factor` (at least 1).
    pub fn time_scale(mut self, factor: f64) -> Self {
        match TimeScale::new(factor) {
            Ok(scale) => self.config.time_scale = scale,
            Err(error) => self.time_scale_error = Some(error),
        }
        self
    }

    /// Push requests in flight per subscription.
    pub fn push_concurrency(mut self, requests: usize) -> Self {
        self.config.push_concurrency = requests;
        self
    }

    /// Topics and subscriptions to create at start (added to any given before).
    pub fn setup(mut self, setup: Setup) -> Self {
        self.setup.extend(setup);
        self
    }

    /// Binds, applies the setup, and serves in the background.
    pub async fn start(self) -> Result<RunningEmulator, StartError> {
        if let Some(error) = self.time_scale_error {
            return Err(error.into());
        }
        let config = self.config;
        let listener =
            TcpListener::bind(&config.bind)
                .await
                .map_err(|source| StartError::Bind {
                    address: config.bind.clone(),
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let shutdown = CancellationToken::new();
        let broker = Arc::new(Broker::new(
            config.time_scale,
            config.push_concurrency,
            shutdown.clone(),
        ));
        if let Err(error) = self.setup.apply(&broker, &config.project) {
            // Stops the dispatchers of subscriptions created before the failure.
            shutdown.cancel();
            return Err(error.into());
        }
        let serve = axum::serve(listener, app(Arc::clone(&broker)))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let server = tokio::spawn(async move {
            if let Err(error) = serve.await {
                warn!(%error, "the emulator's server stopped");
            }
        });
        info!(%addr, time_scale = %config.time_scale, "Pub/Sub emulator listening");
        Ok(RunningEmulator {
            addr,
            project: config.project,
            broker,
            shutdown,
            server: Some(server),
        })
    }
}

/// gRPC services, REST routes and `/stats` on one router.
fn app(broker: Arc<Broker>) -> Router {
    let publisher = PublisherServer::new(PublisherService::new(Arc::clone(&broker)))
        .max_decoding_message_size(MAX_MESSAGE_SIZE);
    let subscriber = SubscriberServer::new(SubscriberService::new(Arc::clone(&broker)))
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE);
    let grpc = tonic::service::Routes::new(publisher)
        .add_service(subscriber)
        .into_axum_router();
    rest::router(broker).merge(grpc).fallback(unknown_route)
}

/// gRPC callers of other services get UNIMPLEMENTED; REST callers a Google-shaped 404.
async fn unknown_route(request: Request) -> Response {
    let is_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"));
    let path = request.uri().path();
    if is_grpc {
        tonic::Status::unimplemented(format!("{path} is not supported by the Pub/Sub emulator"))
            .into_http::<Body>()
    } else {
        rest::google_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!(
                "{} {path} is not a Pub/Sub REST method this emulator serves",
                request.method()
            ),
        )
    }
}

/// A started emulator; dropping it stops the server without waiting.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    project: String,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`, the value for `PUBSUB_EMULATOR_HOST`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://host:port`, the endpoint for the official clients' `with_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The project short setup names resolve in.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// A snapshot of the delivery counters.
    pub fn stats(&self) -> Stats {
        self.broker.stats()
    }

    /// Creates the topics and subscriptions `setup` describes that do not exist yet.
    pub fn apply(&self, setup: &Setup) -> Result<(), SetupError> {
        setup.apply(&self.broker, &self.project)
    }

    /// Stops accepting, ends open streams and deliveries, and waits (boundedly) for requests to drain.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(DRAIN_TIMEOUT, &mut server)
                .await
                .is_err()
        {
            warn!("open requests did not finish in time; dropping them");
            server.abort();
        }
        info!("Pub/Sub emulator stopped");
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

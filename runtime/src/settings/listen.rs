//! Where a server listens, how long it waits for slow clients, and how long
//! it drains at shutdown.

use super::parse_seconds;
use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Where a server listens, its HTTP timeouts, and its shutdown drain.
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
    /// Seconds a client may take to send a request's headers (and an idle
    /// connection may wait for its next request) before it is closed.
    #[arg(long = "http-header-timeout", env = "HTTP_HEADER_TIMEOUT_SECONDS", value_name = "HTTP_HEADER_TIMEOUT_SECONDS",
          default_value = "10", value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// Seconds a client may take to send a request's body once its headers
    /// are in; a slower one is answered 408 and its connection closed.
    #[arg(long = "http-body-timeout", env = "HTTP_BODY_TIMEOUT_SECONDS", value_name = "HTTP_BODY_TIMEOUT_SECONDS",
          default_value = "30", value_parser = parse_seconds)]
    pub body_timeout: Duration,
    /// Seconds a whole request may take, its handler included, before it is
    /// answered 503. Must exceed the worker's longest job run (JOB_MAX_TIMEOUT_SECONDS).
    #[arg(long = "http-request-timeout", env = "HTTP_REQUEST_TIMEOUT_SECONDS", value_name = "HTTP_REQUEST_TIMEOUT_SECONDS",
          default_value = "600", value_parser = parse_seconds)]
    pub request_timeout: Duration,
}

impl ListenSettings {
    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

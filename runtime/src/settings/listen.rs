//! Where a server listens and how long it drains at shutdown.

use super::parse_seconds;
use clap::Args;
use std::net::{IpAddr, SocketAddr};
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

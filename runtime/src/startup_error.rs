//! Why a process could not start; `main` prints it and exits 1.

use crate::publisher::PublishError;
use crate::settings::SettingError;
use crate::subscriber::SubscribeError;
use std::io;
use std::net::SocketAddr;

/// Why a server could not start. Each variant's message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A setting is invalid; the message names the variable.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// Migrations failed (`MIGRATE_ON_START`): check DATABASE_URL and the database's logs.
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The Pub/Sub publisher could not be created.
    #[error(transparent)]
    Publisher(#[from] PublishError),
    /// The Pub/Sub subscriber of a pulling worker could not be created.
    #[error(transparent)]
    Subscriber(#[from] SubscribeError),
    /// The job types cannot run: a handler's settings are wrong.
    #[error(transparent)]
    JobTypes(Box<dyn std::error::Error + Send + Sync>),
    /// The listening socket could not be opened: another process holds the port, or HOST is wrong.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from HOST and PORT.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
}

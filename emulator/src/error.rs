//! The errors a Pub/Sub call answers with, mapped to gRPC and REST statuses.

use crate::names::NameError;

/// A Pub/Sub call failed; each variant is one client-visible status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named topic, subscription or project does not exist.
    #[error("Resource not found (resource={0}).")]
    NotFound(String),
    /// A resource with that name already exists.
    #[error("Resource already exists in the project (resource={0}).")]
    AlreadyExists(String),
    /// A resource name is malformed.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// A request field is out of range or inconsistent.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is valid Pub/Sub but this emulator does not implement it.
    #[error("{0}")]
    Unimplemented(String),
}

/// The result of a Pub/Sub call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The gRPC status code Pub/Sub uses for this error.
    pub fn code(&self) -> tonic::Code {
        match self {
            Self::NotFound(_) => tonic::Code::NotFound,
            Self::AlreadyExists(_) => tonic::Code::AlreadyExists,
            Self::InvalidName(_) | Self::InvalidArgument(_) => tonic::Code::InvalidArgument,
            Self::Unimplemented(_) => tonic::Code::Unimplemented,
        }
    }

    /// A `NOT_FOUND` error naming the resource by its last path segment, as Pub/Sub does.
    pub fn not_found(name: &str) -> Self {
        Self::NotFound(short_name(name).to_owned())
    }

    /// An `ALREADY_EXISTS` error naming the resource by its last path segment.
    pub fn already_exists(name: &str) -> Self {
        Self::AlreadyExists(short_name(name).to_owned())
    }
}

fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        tonic::Status::new(error.code(), error.to_string())
    }
}

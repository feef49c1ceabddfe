//! The error type of the job store.

use crate::state_machine::TransitionError;
use thiserror::Error;

/// Why a store operation did not happen. Each variant says what the caller should do.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such job for this tenant; answer "not found", never retry.
    #[error("job not found")]
    NotFound,
    /// The state machine refused the change; the job is left as it was.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The idempotency key was used before with a different request; nothing was stored.
    #[error("idempotency key `{0}` was already used with a different request")]
    IdempotencyConflict(String),
    /// The job kept changing between reading it and writing the decided
    /// change; nothing was written, and the caller may try again shortly.
    #[error("the job changed too often while the change was decided; try again")]
    Contended,
    /// The database could not be reached in time; the operation may be retried later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure: a bug or a broken invariant, not the caller's fault.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(err),
            other => StoreError::Database(other),
        }
    }
}

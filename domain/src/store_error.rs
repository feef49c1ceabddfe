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
    /// Items of a batch reuse idempotency keys with other requests (stored
    /// before, or earlier in the batch); nothing was stored. Each entry is
    /// the item's index and its key.
    #[error("idempotency keys already used with other requests: {}", .0.iter().map(|(index, key)| format!("jobs/{index} (`{key}`)")).collect::<Vec<_>>().join(", "))]
    BatchConflicts(Vec<(usize, String)>),
    /// A job type's rate limit is reached for the job's key; nothing was
    /// stored. The client may submit again after `retry_after`.
    #[error("the job type's rate limit is reached for this key; retry after {} s", retry_after.as_secs())]
    RateLimited {
        /// Until a slot of the window frees.
        retry_after: std::time::Duration,
    },
    /// The job kept changing between reading it and writing the decided
    /// change; nothing was written, and the caller may try again shortly.
    #[error("the job changed too often while the change was decided; try again")]
    Contended,
    /// The database could not be reached, or the connection broke: the server
    /// is down, restarting or failing over, the connection was terminated
    /// (SQLSTATE 57P01–57P03, class 08), an I/O or TLS error, or no pooled
    /// connection came in time. Answer 503 (the API) or nack (the worker); the
    /// operation may be retried later. A write whose connection broke may
    /// have committed: retry it only if it is idempotent (a submit under its
    /// idempotency key), never silently.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure: a bug or a broken invariant, not the caller's fault.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if is_connection_failure(&err) {
            StoreError::Unavailable(err)
        } else {
            StoreError::Database(err)
        }
    }
}

/// True when `err` says the connection, not the statement, failed: the
/// statement may pass on another connection once the server answers.
///
/// sqlx closes a connection that failed so, and the pool opens a new one.
/// When the server terminates a backend (`pg_terminate_backend`, a fast
/// shutdown, a failover), sqlx 0.8 reads PostgreSQL's FATAL 57P01 as a
/// database error; a statement sent on the closed socket afterwards fails
/// with an I/O error, and a connection attempt while the server starts or
/// stops with 57P03 or a refused connection.
fn is_connection_failure(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_connection_sqlstate(&code)),
        _ => false,
    }
}

/// The SQLSTATEs of a lost or refused connection: `admin_shutdown` (57P01),
/// `crash_shutdown` (57P02), `cannot_connect_now` (57P03) and class 08,
/// `connection_exception`.
fn is_connection_sqlstate(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03") || code.starts_with("08")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::error::{DatabaseError, ErrorKind};
    use std::borrow::Cow;

    /// A database error with only a SQLSTATE, as the server would send it.
    #[derive(Debug, Error)]
    #[error("SQLSTATE {0}")]
    struct Sqlstate(&'static str);

    impl DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn database(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Sqlstate(code)))
    }

    fn is_unavailable(err: sqlx::Error) -> bool {
        matches!(StoreError::from(err), StoreError::Unavailable(_))
    }

    #[test]
    fn a_terminated_shut_down_or_refused_connection_is_unavailable() {
        for code in [
            "57P01", // admin_shutdown: pg_terminate_backend, a fast shutdown, a failover
            "57P02", // crash_shutdown: another backend crashed
            "57P03", // cannot_connect_now: the server is starting up or shutting down
            "08000", // connection_exception
            "08003", // connection_does_not_exist
            "08006", // connection_failure
            "08001", // sqlclient_unable_to_establish_sqlconnection
            "08004", // sqlserver_rejected_establishment_of_sqlconnection
            "08007", // transaction_resolution_unknown
            "08P01", // protocol_violation
        ] {
            assert!(is_unavailable(database(code)), "{code} is not unavailable");
        }
    }

    #[test]
    fn connection_level_errors_of_sqlx_are_unavailable() {
        let broken_pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        for err in [
            sqlx::Error::Io(broken_pipe),
            sqlx::Error::Tls("handshake failed".into()),
            sqlx::Error::Protocol("unexpected message".to_owned()),
            sqlx::Error::WorkerCrashed,
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ] {
            let shown = err.to_string();
            assert!(is_unavailable(err), "{shown} is not unavailable");
        }
    }

    #[test]
    fn statement_errors_are_database_errors_not_unavailable() {
        for code in [
            "23505", // unique_violation
            "23514", // check_violation
            "40001", // serialization_failure: the statement's, retried by the store if at all
            "42P01", // undefined_table
            "57014", // query_canceled
            "57P04", // database_dropped: no retry brings it back
            "53100", // disk_full
        ] {
            assert!(
                matches!(StoreError::from(database(code)), StoreError::Database(_)),
                "{code} is not a database error"
            );
        }
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::ColumnNotFound("id".to_owned())),
            StoreError::Database(_)
        ));
    }
}

//! Process shutdown shared by the servers: the signal Cloud Run sends, and a
//! drain that stops waiting for in-flight work after a grace period.

use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::sync::oneshot;

/// Resolves on SIGTERM (what Cloud Run sends) or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}

/// Runs `serve` to its end, but once `stopping` fires gives it at most
/// `grace` to finish what is in flight.
pub async fn drain(
    serve: impl Future<Output = io::Result<()>>,
    stopping: oneshot::Receiver<()>,
    grace: Duration,
) -> io::Result<()> {
    let deadline = async move {
        match stopping.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended on its own; `serve` reports how.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        served = serve => served,
        () = deadline => {
            tracing::warn!(grace_seconds = grace.as_secs(), "in-flight work outlived the shutdown grace");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_server_that_never_finishes_is_cut_off_after_the_grace() {
        let (stop, stopping) = oneshot::channel();
        let _ = stop.send(());
        let served = drain(std::future::pending(), stopping, Duration::from_secs(10)).await;
        assert!(served.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_finishes_in_time_reports_its_own_result() {
        let (_stop, stopping) = oneshot::channel::<()>();
        let failed = drain(
            async { Err(io::Error::other("listener broke")) },
            stopping,
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(failed.expect_err("its error").to_string(), "listener broke");
    }
}

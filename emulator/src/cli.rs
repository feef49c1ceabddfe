//! The binary edge of this crate: what `pubsub-emulator` does with its
//! command line. The `pubsub-emulator` binary and the multi-call `jobs` binary
//! (the job service's image) both call [`run`]. The one function of the crate
//! that returns [`anyhow::Result`]: the error only ever reaches `main`, which
//! prints it and exits 1.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use tracing::info;
use tracing_subscriber::EnvFilter;

use crate::{
    DEFAULT_HOST, DEFAULT_PORT, Emulator, EmulatorConfig, Setup, SubscriptionSetup, TimeScale,
};

/// In-memory Google Cloud Pub/Sub emulator (gRPC and REST on one port).
///
/// FOR LOCAL RUNS AND TESTS ONLY, NEVER PRODUCTION: no authentication, no
/// persistence, no TLS, and push requests carry no OIDC token.
///
/// Point clients at it with PUBSUB_EMULATOR_HOST=HOST:PORT.
#[derive(Debug, Parser)]
#[command(name = "pubsub-emulator", version, verbatim_doc_comment)]
struct Cli {
    /// Address to listen on [default: 127.0.0.1, or the host of PUBSUB_EMULATOR_HOST].
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on, 0 picks a free one [default: 8085, or the port of PUBSUB_EMULATOR_HOST].
    #[arg(long)]
    port: Option<u16>,
    /// Project for short names in --topic, --subscription and --config.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT", default_value = crate::DEFAULT_PROJECT)]
    project: String,
    /// Divide every ack deadline and retry backoff by this factor (>= 1), for fast tests.
    #[arg(long, default_value = "1")]
    time_scale: TimeScale,
    /// Push requests in flight per subscription.
    #[arg(long, default_value_t = crate::DEFAULT_PUSH_CONCURRENCY)]
    push_concurrency: usize,
    /// Topic to create at start (repeatable), e.g. `jobs` or `projects/p/topics/jobs`.
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Subscription to create at start (repeatable; its topics are created too).
    /// `NAME=TOPIC` is pull, `NAME=TOPIC@URL` is push; options follow after commas:
    /// ack-deadline=600, min-backoff=10s, max-backoff=600s, dead-letter=TOPIC, max-attempts=5.
    #[arg(
        long = "subscription",
        value_name = "NAME=TOPIC[@URL][,OPTION=VALUE...]",
        verbatim_doc_comment
    )]
    subscriptions: Vec<SubscriptionSetup>,
    /// JSON or TOML file with `topics` and `subscriptions` to create at start.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs `pubsub-emulator` with `args` (the first is the program name, as in
/// [`std::env::args_os`]) until Ctrl-C or SIGTERM. `--help`, `--version` and
/// usage errors print and exit the process, as clap does.
pub async fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse_from(args);

    let mut setup = match &cli.config {
        Some(path) => Setup::from_file(path)?,
        None => Setup::new(),
    };
    setup.extend(Setup {
        topics: cli.topics,
        subscriptions: cli.subscriptions,
    });
    let bind = bind_address(
        cli.host,
        cli.port,
        std::env::var("PUBSUB_EMULATOR_HOST").ok(),
    );
    let emulator = Emulator::builder()
        .config(EmulatorConfig {
            bind,
            project: cli.project,
            time_scale: cli.time_scale,
            push_concurrency: cli.push_concurrency,
        })
        .setup(setup)
        .start()
        .await
        .context("starting the Pub/Sub emulator")?;
    info!(
        "ready: export PUBSUB_EMULATOR_HOST={} (REST and gRPC at {})",
        emulator.host(),
        emulator.endpoint()
    );

    shutdown_signal().await?;
    info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

/// `--host`/`--port` win; without them the emulator listens where
/// `PUBSUB_EMULATOR_HOST` points clients, else on the default address.
fn bind_address(host: Option<String>, port: Option<u16>, from_env: Option<String>) -> String {
    if host.is_none()
        && port.is_none()
        && let Some(address) = from_env.filter(|a| !a.trim().is_empty())
    {
        return address.trim().to_owned();
    }
    let host = host.unwrap_or_else(|| DEFAULT_HOST.to_owned());
    let port = port.unwrap_or(DEFAULT_PORT);
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("installing the SIGTERM handler")?;
        tokio::select! {
            result = ctrl_c => result.context("waiting for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.context("waiting for Ctrl-C")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bind_address;

    #[test]
    fn flags_win_over_pubsub_emulator_host_which_wins_over_the_default() {
        let env = Some("localhost:9999".to_owned());
        assert_eq!(bind_address(None, None, None), "127.0.0.1:8085");
        assert_eq!(bind_address(None, None, env.clone()), "localhost:9999");
        assert_eq!(bind_address(None, Some(0), env), "127.0.0.1:0");
        assert_eq!(bind_address(Some("::1".into()), None, None), "[::1]:8085");
    }
}

//! The binary edge of this crate: what `worker` does with its command line.
//! The `worker` binary and the multi-call `jobs` binary both call [`run`].
//! The one function of the crate that returns [`anyhow::Result`]: the error
//! only ever reaches `main`, which prints it and exits 1.

use std::ffi::OsString;

use anyhow::Context;
use clap::Parser;
use jobs_domain::{shutdown, telemetry};

use crate::config::WorkerConfig;
use crate::startup::Application;

/// The Pub/Sub push worker of the job service.
#[derive(Parser)]
#[command(name = "worker", version, about)]
struct Cli {
    #[command(flatten)]
    config: WorkerConfig,
}

/// Runs `worker` with `args` (the first is the program name, as in
/// [`std::env::args_os`]). `--help`, `--version` and usage errors print and
/// exit the process, as clap does.
pub async fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    telemetry::init(cli.config.log.format).context("installing the log subscriber")?;
    let app = Application::build(&cli.config).await?;
    tracing::info!(port = app.port(), "jobs worker listening");
    app.run_until_stopped(shutdown::signal()).await?;
    Ok(())
}

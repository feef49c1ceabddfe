//! The binary edge of this crate: what `worker` does with its command line.
//! The `worker` binary and the multi-call `jobs` binary both call [`run`].

use crate::settings::WorkerSettings;
use crate::startup::build;
use clap::Parser;
use std::ffi::OsString;

/// The Pub/Sub worker of the job service: pushed to, or pulling (WORKER_MODE).
#[derive(Parser)]
#[command(name = "worker", version, about)]
struct Cli {
    #[command(flatten)]
    settings: WorkerSettings,
}

/// Runs `worker` with `args` (the first is the program name); see
/// [`jobs_runtime::cli::parse`] for how the command line is read.
pub async fn run(args: Vec<OsString>) -> anyhow::Result<()> {
    let (cli, telemetry): (Cli, _) =
        jobs_runtime::cli::parse_server(args, "jobs-worker", |cli: &Cli| &cli.settings.server)?;
    jobs_runtime::cli::serve(build(&cli.settings).await?, "jobs worker", telemetry).await
}

//! The binary edges the commands share: parsing the command line with the
//! log subscriber installed, and serving until SIGTERM. These return
//! [`anyhow::Result`]: their errors only ever reach `main`, which prints
//! them and exits 1.

use crate::server::Server;
use crate::settings::{LogSettings, ServerSettings};
use crate::telemetry::{Telemetry, Traces};
use crate::{shutdown, telemetry};
use anyhow::Context;
use clap::Parser;
use std::ffi::OsString;
use std::process::ExitCode;

/// Parses `args` (the first is the program name, as in
/// [`std::env::args_os`]) as `C` and installs the log subscriber its
/// settings ask for. `--help`, `--version` and usage errors print and exit
/// the process, as clap does.
pub fn parse<C, I, T>(args: I, log: impl FnOnce(&C) -> &LogSettings) -> anyhow::Result<C>
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = C::parse_from(args);
    // Without traces there are no spans to export at exit.
    let _logs_only = install(log(&cli), None)?;
    Ok(cli)
}

/// As [`parse`], for a server: logs and traces as its settings (`server`)
/// ask, its spans named `service` (`jobs-api`) unless `OTEL_SERVICE_NAME`
/// names them. Needs a tokio runtime; give the [`Telemetry`] to [`serve`].
pub fn parse_server<C, I, T>(
    args: I,
    service: &str,
    server: impl FnOnce(&C) -> &ServerSettings,
) -> anyhow::Result<(C, Telemetry)>
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = C::parse_from(args);
    let settings = server(&cli);
    let telemetry = install(&settings.log, Some(settings.traces(service)))?;
    Ok((cli, telemetry))
}

fn install(log: &LogSettings, traces: Option<Traces<'_>>) -> anyhow::Result<Telemetry> {
    telemetry::init(log.format, traces).context("setting up logs and traces")
}

/// Serves `server` until SIGTERM or Ctrl-C, then drains it and, last,
/// exports the spans `telemetry` still holds.
pub async fn serve(server: Server, what: &str, telemetry: Telemetry) -> anyhow::Result<()> {
    tracing::info!(port = server.port(), "{what} listening");
    let served = server.run_until_stopped(shutdown::signal()).await;
    telemetry.shutdown().await;
    served?;
    Ok(())
}

/// How a command ends: success, or its error on one line of stderr (the
/// causes joined by `: `, never a backtrace, whatever `RUST_BACKTRACE` says)
/// and exit status 1.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! The binary edges the commands share: parsing the command line with the
//! log subscriber installed, and serving until SIGTERM. These return
//! [`anyhow::Result`]: their errors only ever reach `main`, which prints
//! them and exits 1.

use crate::server::Server;
use crate::settings::LogSettings;
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
    telemetry::init(log(&cli).format).context("installing the log subscriber")?;
    Ok(cli)
}

/// Serves `server` until SIGTERM or Ctrl-C, then drains it.
pub async fn serve(server: Server, what: &str) -> anyhow::Result<()> {
    tracing::info!(port = server.port(), "{what} listening");
    server.run_until_stopped(shutdown::signal()).await?;
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

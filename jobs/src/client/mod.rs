//! `jobs` as the command-line client of the API: what the binary does when
//! its first argument names no server role (`jobs submit noop`, `jobs list
//! --status failed`). Each command is one or a few calls of `jobs-client`;
//! this module reads the command line, prints the answers, and turns every
//! ending into one of four exit statuses with at most one line on stderr.

mod args;
mod commands;
mod input;
mod output;
mod wait;

use args::Cli;
use clap::{CommandFactory, FromArgMatches};
use jobs_client::Error;
use std::error::Error as _;
use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

/// Every command did what it was asked.
const DONE: u8 = 0;
/// A job ended failed or cancelled, or the API refused the request.
const FAILED: u8 = 1;
/// The command line is wrong (clap's status for usage errors).
const USAGE: u8 = 2;
/// The API could not be used: unreachable, the key refused, rate-limited
/// or unavailable.
const UNREACHABLE: u8 = 3;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It did what it was asked (the jobs it waited for completed).
    Done,
    /// A job it waited for ended failed or cancelled.
    JobFailed,
}

/// Why a command stopped.
#[derive(Debug)]
pub enum Failure {
    /// Input the command cannot use: a file, JSON, a missing key.
    Usage(String),
    /// A call of the API failed.
    Api(Error),
    /// Printing the answer failed (stdout closed).
    Output(io::Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::Api(err)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Failure {
        Failure::Output(err)
    }
}

/// The names of the client's commands (and their aliases).
#[cfg(test)]
pub fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .flat_map(|command| std::iter::once(command.get_name()).chain(command.get_all_aliases()))
        .map(str::to_owned)
        .collect()
}

/// Runs the command line `args` (the first is the program name);
/// `after_help` ends `jobs --help` (the server roles).
pub fn run(args: Vec<OsString>, after_help: String) -> ExitCode {
    let matches = Cli::command()
        .after_help(after_help)
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match matches {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version on stdout with 0, usage errors on stderr with 2.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(USAGE));
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            output::note(&format!("error: cannot start the async runtime: {err}"));
            return ExitCode::from(FAILED);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(Ended::Done) => ExitCode::from(DONE),
        Ok(Ended::JobFailed) => ExitCode::from(FAILED),
        Err(failure) => {
            let (status, message) = explain(&failure);
            if let Some(message) = message {
                output::note(&format!("error: {}", output::one_line(&message)));
            }
            ExitCode::from(status)
        }
    }
}

/// The exit status of `failure`, and its one line for stderr (none when
/// stdout was closed under us, as by `jobs list | head -1`).
fn explain(failure: &Failure) -> (u8, Option<String>) {
    match failure {
        Failure::Usage(message) => (USAGE, Some(message.clone())),
        Failure::Output(err) if err.kind() == io::ErrorKind::BrokenPipe => (DONE, None),
        Failure::Output(err) => (FAILED, Some(format!("cannot print the answer: {err}"))),
        Failure::Api(err) => {
            let status = match err {
                Error::NotFound(_)
                | Error::Conflict(_)
                | Error::InvalidFields(_)
                | Error::BadRequest(_) => FAILED,
                Error::InvalidArgument(_) => USAGE,
                _ => UNREACHABLE,
            };
            let message = match err {
                Error::Unauthorized(problem) => {
                    format!("{problem} (the key of JOBS_API_KEY or --api-key was refused)")
                }
                other => with_causes(other),
            };
            (status, Some(message))
        }
    }
}

/// `err` and its causes, joined by `: `, each once.
fn with_causes(err: &Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut cause = err.source();
    while let Some(next) = cause {
        let text = next.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        cause = next.source();
    }
    parts.join(": ")
}

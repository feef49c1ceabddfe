//! `jobs`: the job service's one binary for its container image. It takes the
//! role of the binary it is called as (`api`, `worker`, `migrate`,
//! `pubsub-emulator`: the image links those names to it), or the role named
//! by its first argument (`jobs worker --port 8081`). Any other first
//! argument is a command of the API's command-line client (`jobs submit
//! noop`, `jobs list --status failed`; the `client` module).
//!
//! One binary instead of four: the roles share most of their code (tokio,
//! axum, sqlx, rustls, the domain), and four binaries carried four copies of
//! it. Each role still has its own binary in its crate, for `cargo run --bin`
//! and the tests; both call the same `cli` function of that crate.

mod client;

use std::ffi::{OsStr, OsString};
use std::iter;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

/// A role this binary can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Api,
    Migrate,
    Worker,
    PubsubEmulator,
}

/// Every role by its name: the binary its crate builds, and the link to this
/// binary in the image (the Dockerfile; shipping/tests checks they agree).
const ROLES: [(&str, Role); 4] = [
    ("api", Role::Api),
    ("worker", Role::Worker),
    ("migrate", Role::Migrate),
    ("pubsub-emulator", Role::PubsubEmulator),
];

impl Role {
    fn named(name: &OsStr) -> Option<Role> {
        ROLES
            .iter()
            .find(|(role_name, _)| OsStr::new(role_name) == name)
            .map(|&(_, role)| role)
    }

    fn summary(self) -> &'static str {
        match self {
            Role::Api => "serve the jobs API, or manage API keys (api keys create|list|revoke)",
            Role::Worker => "serve the Pub/Sub push endpoints that run jobs",
            Role::Migrate => "create the database if missing and apply the migrations",
            Role::PubsubEmulator => "in-memory Pub/Sub for local runs; never production",
        }
    }

    async fn run(self, args: Vec<OsString>) -> anyhow::Result<()> {
        match self {
            Role::Api => jobs_api::cli::run(args).await,
            Role::Worker => jobs_worker::cli::run(args).await,
            Role::Migrate => jobs_runtime::migrate::run(args).await,
            Role::PubsubEmulator => pubsub_emulator::cli::run(args).await,
        }
    }
}

/// What a command line asks for.
#[derive(Debug, PartialEq)]
enum Dispatch {
    /// Run the role with these arguments. The first names the role (it is
    /// the program name of the role's parser), so help and errors say `api`,
    /// not `jobs`.
    Run(Role, Vec<OsString>),
    /// Run the command-line client with these arguments, the first `jobs`;
    /// help, version and usage errors (an unknown command) are its own.
    Client(Vec<OsString>),
}

fn dispatch(args: impl IntoIterator<Item = OsString>) -> Dispatch {
    let mut args = args.into_iter();
    let program = args.next().unwrap_or_default();
    if let Some(role) = Path::new(&program).file_name().and_then(Role::named) {
        return Dispatch::Run(role, iter::once(program).chain(args).collect());
    }
    let mut args = args.peekable();
    if let Some(role) = args.peek().and_then(|first| Role::named(first)) {
        return Dispatch::Run(role, args.collect());
    }
    Dispatch::Client(iter::once(OsString::from("jobs")).chain(args).collect())
}

/// The end of `jobs --help`: the server roles, which the client's commands
/// never shadow (a test checks no command is named like a role).
fn roles_help() -> String {
    let mut text = String::from(
        "Server roles: the image's binary runs one of these when called by its name (the image\n\
         links each to it) or when it is the first argument; `jobs ROLE --help` shows its options.\n",
    );
    for (name, role) in ROLES {
        text.push_str(&format!("  {name:<16} {}\n", role.summary()));
    }
    text
}

fn main() -> anyhow::Result<ExitCode> {
    match dispatch(std::env::args_os()) {
        Dispatch::Run(role, args) => {
            // What #[tokio::main] builds for each role's own binary.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            Ok(jobs_runtime::cli::exit_code(
                runtime.block_on(role.run(args)),
            ))
        }
        Dispatch::Client(args) => Ok(client::run(args, roles_help())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_name_it_is_called_by_picks_the_role_and_keeps_every_argument() {
        assert_eq!(
            dispatch(args(&[
                "/usr/local/bin/api",
                "create-key",
                "--tenant",
                "acme"
            ])),
            Dispatch::Run(
                Role::Api,
                args(&["/usr/local/bin/api", "create-key", "--tenant", "acme"])
            )
        );
        assert_eq!(
            dispatch(args(&["pubsub-emulator", "--port", "0"])),
            Dispatch::Run(
                Role::PubsubEmulator,
                args(&["pubsub-emulator", "--port", "0"])
            )
        );
    }

    #[test]
    fn otherwise_the_first_argument_picks_the_role_and_becomes_its_program_name() {
        assert_eq!(
            dispatch(args(&["/usr/local/bin/jobs", "worker", "--port", "8081"])),
            Dispatch::Run(Role::Worker, args(&["worker", "--port", "8081"]))
        );
        assert_eq!(
            dispatch(args(&["jobs", "migrate"])),
            Dispatch::Run(Role::Migrate, args(&["migrate"]))
        );
    }

    #[test]
    fn a_called_name_wins_over_a_role_named_as_argument() {
        assert_eq!(
            dispatch(args(&["api", "worker"])),
            Dispatch::Run(Role::Api, args(&["api", "worker"]))
        );
    }

    #[test]
    fn anything_else_is_the_client_under_the_name_jobs() {
        assert_eq!(dispatch(args(&["jobs"])), Dispatch::Client(args(&["jobs"])));
        assert_eq!(dispatch(args(&[])), Dispatch::Client(args(&["jobs"])));
        assert_eq!(
            dispatch(args(&["/usr/local/bin/jobs", "list", "--status", "failed"])),
            Dispatch::Client(args(&["jobs", "list", "--status", "failed"]))
        );
        assert_eq!(
            dispatch(args(&["jobs", "--help"])),
            Dispatch::Client(args(&["jobs", "--help"]))
        );
        // Only the exact name counts.
        assert_eq!(
            dispatch(args(&["api-server", "apii"])),
            Dispatch::Client(args(&["jobs", "apii"]))
        );
    }

    #[test]
    fn every_role_has_one_name_and_the_help_lists_it() {
        for (name, role) in ROLES {
            assert_eq!(Role::named(OsStr::new(name)), Some(role));
            assert!(roles_help().contains(&format!("  {name} ")), "{name}");
        }
        let mut names: Vec<_> = ROLES.iter().map(|(name, _)| name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ROLES.len());
    }

    #[test]
    fn no_client_command_is_named_like_a_role() {
        for command in client::command_names() {
            assert_eq!(Role::named(OsStr::new(&command)), None, "{command}");
        }
    }
}

//! `migrate`: creates the database if it is missing and applies every pending
//! migration ([`jobs_runtime::migrate`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_runtime::cli::exit_code(jobs_runtime::migrate::run(std::env::args_os()).await)
}

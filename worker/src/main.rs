//! `worker`: runs the jobs Pub/Sub pushes (or it pulls) ([`jobs_worker::cli`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_runtime::cli::exit_code(jobs_worker::cli::run(std::env::args_os().collect()).await)
}

//! `api`: serves the jobs API, or creates an API key ([`jobs_api::cli`]).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    jobs_runtime::cli::exit_code(jobs_api::cli::run(std::env::args_os().collect()).await)
}

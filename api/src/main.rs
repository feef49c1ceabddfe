//! `api`: serves the jobs API, or creates an API key ([`jobs_api::cli::api`]).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    jobs_api::cli::api::run(std::env::args_os()).await
}

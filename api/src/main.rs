//! `api`: serves the jobs API, or creates an API key ([`jobs_api::cli`]).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    jobs_api::cli::run(std::env::args_os().collect()).await
}

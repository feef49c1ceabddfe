//! `migrate`: creates the database if it is missing and applies every pending
//! migration ([`jobs_api::cli::migrate`]).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    jobs_api::cli::migrate::run(std::env::args_os()).await
}

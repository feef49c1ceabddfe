//! `migrate`: creates the database if it is missing and applies every pending
//! migration ([`jobs_runtime::migrate`]).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    jobs_runtime::migrate::run(std::env::args_os()).await
}

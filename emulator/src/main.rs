//! `pubsub-emulator`: an in-memory Google Cloud Pub/Sub for local runs and tests
//! ([`pubsub_emulator::cli`]).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pubsub_emulator::cli::run(std::env::args_os()).await
}

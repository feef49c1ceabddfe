//! The binary edge of this crate: what `api` does with its command line
//! (serve the jobs API, or create an API key). The `api` binary and the
//! multi-call `jobs` binary both call [`run`].

use crate::settings::ApiSettings;
use crate::startup::build;
use anyhow::Context;
use clap::{Parser, Subcommand};
use jobs_domain::api_keys;
use std::ffi::OsString;

/// The public HTTP API of the job service.
#[derive(Parser)]
#[command(name = "api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: ApiSettings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Create an API key for a tenant (created if new) and print it; it is shown only once.
    CreateKey {
        /// The tenant's name.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        tenant: String,
    },
}

/// Runs `api` with `args` (the first is the program name); see
/// [`jobs_runtime::cli::parse`] for how the command line is read.
pub async fn run(args: Vec<OsString>) -> anyhow::Result<()> {
    let cli: Cli = jobs_runtime::cli::parse(args, |cli: &Cli| &cli.settings.server.log)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            jobs_runtime::cli::serve(build(&cli.settings).await?, "jobs API").await?;
        }
        Command::CreateKey { tenant } => {
            let pool = cli.settings.server.database.pool();
            let created = api_keys::create_key(&pool, &tenant)
                .await
                .context("creating the API key (is DATABASE_URL right and migrated?)")?;
            println!("{}", created.key);
        }
    }
    Ok(())
}

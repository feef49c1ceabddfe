//! `api`: serves the jobs API, or creates an API key.

use std::ffi::OsString;

use anyhow::Context;
use clap::{Parser, Subcommand};
use jobs_domain::{api_keys, db, shutdown, telemetry};

use crate::config::ApiConfig;
use crate::startup::Application;

/// The public HTTP API of the job service.
#[derive(Parser)]
#[command(name = "api", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: ApiConfig,
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

/// Runs `api` with `args` (the first is the program name, as in
/// [`std::env::args_os`]). `--help`, `--version` and usage errors print and
/// exit the process, as clap does.
pub async fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    telemetry::init(cli.config.log.format).context("installing the log subscriber")?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&cli.config).await?;
            tracing::info!(port = app.port(), "jobs API listening");
            app.run_until_stopped(shutdown::signal()).await?;
        }
        Command::CreateKey { tenant } => {
            let pool = db::pool(&cli.config.database);
            let created = api_keys::create_key(&pool, &tenant)
                .await
                .context("creating the API key (is DATABASE_URL right and migrated?)")?;
            println!("{}", created.key);
        }
    }
    Ok(())
}

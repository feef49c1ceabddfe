//! `migrate`: creates the database if it is missing and applies every pending migration.

use std::ffi::OsString;

use crate::settings::{DatabaseSettings, LogSettings};
use anyhow::Context;
use clap::Parser;
use jobs_domain::db;
use sqlx::ConnectOptions;
use sqlx::migrate::MigrateDatabase;

/// Creates the database if it is missing and applies the job service's schema migrations.
#[derive(Parser)]
#[command(name = "migrate", version)]
struct Cli {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    log: LogSettings,
}

/// Runs `migrate` with `args` (the first is the program name, as in
/// [`std::env::args_os`]). `--help`, `--version` and usage errors print and
/// exit the process, as clap does.
pub async fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli: Cli = crate::cli::parse(args, |cli: &Cli| &cli.log)?;
    let url = cli.database.url.to_url_lossy().to_string();
    if !sqlx::Postgres::database_exists(&url)
        .await
        .context("connecting to DATABASE_URL")?
    {
        sqlx::Postgres::create_database(&url)
            .await
            .context("creating the database named in DATABASE_URL")?;
        tracing::info!("created the database");
    }
    let pool = cli.database.pool();
    db::migrate(&pool).await.context("applying migrations")?;
    tracing::info!(
        migrations = db::MIGRATOR.iter().count(),
        "schema is up to date"
    );
    Ok(())
}

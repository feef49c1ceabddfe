//! The binary edge of this crate: what `api` does with its command line
//! (serve the jobs API, or create, list and revoke API keys). The `api`
//! binary and the multi-call `jobs` binary both call [`run`].

use crate::settings::ApiSettings;
use crate::startup::build;
use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Parser, Subcommand};
use jobs_domain::api_keys::{self, KeyInfo, Revocation};
use sqlx::PgPool;
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
    /// Create, list or revoke API keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Create an API key for a tenant (created if new) and print it; it is shown only once.
    /// The same as `keys create`.
    CreateKey {
        /// The tenant's name.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        tenant: String,
    },
}

#[derive(Subcommand)]
enum Keys {
    /// Create an API key for a tenant (created if new): the key alone on
    /// stdout, shown only once; its prefix on stderr.
    Create {
        /// The tenant's name.
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        tenant: String,
    },
    /// List keys (prefix, tenant, created, revoked); never a secret.
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke the one key PREFIX names (as `keys list` shows it); running
    /// API processes refuse it at once. Revoking a revoked key changes nothing.
    Revoke {
        /// The key's prefix (`jk_` and 12 characters), or more of the key.
        prefix: String,
    },
}

/// Runs `api` with `args` (the first is the program name); see
/// [`jobs_runtime::cli::parse`] for how the command line is read.
pub async fn run(args: Vec<OsString>) -> anyhow::Result<()> {
    let (cli, telemetry): (Cli, _) =
        jobs_runtime::cli::parse_server(args, "jobs-api", |cli: &Cli| &cli.settings.server)?;
    let pool = || cli.settings.server.database.pool();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            jobs_runtime::cli::serve(build(&cli.settings).await?, "jobs API", telemetry).await?;
        }
        Command::Keys(Keys::Create { tenant }) | Command::CreateKey { tenant } => {
            create_key(&pool(), &tenant).await?;
        }
        Command::Keys(Keys::List { tenant }) => {
            let keys = api_keys::list_keys(&pool(), tenant.as_deref())
                .await
                .context(DATABASE_HINT)?;
            print!("{}", key_table(&keys));
        }
        Command::Keys(Keys::Revoke { prefix }) => {
            match api_keys::revoke_key(&pool(), &prefix).await? {
                Revocation::Revoked(key) => {
                    println!("revoked key {} of tenant {}", key.prefix, key.tenant);
                }
                Revocation::AlreadyRevoked(key) => println!(
                    "key {} of tenant {} was already revoked{}",
                    key.prefix,
                    key.tenant,
                    key.revoked_at
                        .map(|at| format!(" at {}", timestamp(at)))
                        .unwrap_or_default()
                ),
            }
        }
    }
    Ok(())
}

const DATABASE_HINT: &str = "reading the API keys (is DATABASE_URL right and migrated?)";

/// Prints the new key alone on stdout, which scripts read, and its prefix on stderr.
async fn create_key(pool: &PgPool, tenant: &str) -> anyhow::Result<()> {
    let created = api_keys::create_key(pool, tenant)
        .await
        .context("creating the API key (is DATABASE_URL right and migrated?)")?;
    println!("{}", created.key);
    eprintln!(
        "created key {} for tenant {tenant}; `api keys revoke {}` revokes it",
        created.prefix, created.prefix
    );
    Ok(())
}

/// `keys` as aligned columns with a header; `-` for a key never revoked.
fn key_table(keys: &[KeyInfo]) -> String {
    let rows: Vec<[String; 4]> = keys
        .iter()
        .map(|key| {
            [
                key.prefix.clone(),
                key.tenant.clone(),
                timestamp(key.created_at),
                key.revoked_at.map(timestamp).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["PREFIX", "TENANT", "CREATED", "REVOKED"].map(String::from);
    let mut widths = header.clone().map(|title| title.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        table.push_str(line.join("  ").trim_end());
        table.push('\n');
    }
    table
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

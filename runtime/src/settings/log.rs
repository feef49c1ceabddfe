//! How logs are written.

use clap::{Args, ValueEnum};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line in Cloud Logging's format.
    Json,
    /// Readable text for a terminal.
    Pretty,
}

/// Logging settings; the filter itself comes from `RUST_LOG`.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// `json` for Cloud Logging, `pretty` for a terminal.
    #[arg(
        long = "log-format",
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub format: LogFormat,
}

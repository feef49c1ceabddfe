//! The API's settings: one struct per concern, a file each, flattened into
//! [`ApiSettings`] and read from the environment (or flags).

mod http;
mod rate_limit;

pub use http::RequestSettings;
pub use rate_limit::TenantRateSettings;

use clap::Args;
use jobs_job_types::SecretsSettings;
use jobs_runtime::settings::ServerSettings;

/// Everything the API process needs to start.
#[derive(Debug, Clone, Args)]
pub struct ApiSettings {
    /// What every server needs (listen, database, logs, Pub/Sub, job limits).
    #[command(flatten)]
    pub server: ServerSettings,
    /// The key that seals tenants' HMAC secrets.
    #[command(flatten)]
    pub secrets: SecretsSettings,
    /// Request bodies and API-key checks.
    #[command(flatten)]
    pub requests: RequestSettings,
    /// Each tenant's request quota.
    #[command(flatten)]
    pub tenant_rate: TenantRateSettings,
    /// Apply pending migrations before serving (handy locally; use the `migrate` job in production).
    #[arg(long, env = "MIGRATE_ON_START", value_name = "MIGRATE_ON_START", default_value_t = false, action = clap::ArgAction::Set)]
    pub migrate_on_start: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: ApiSettings,
    }

    fn parse(args: &[&str]) -> Result<ApiSettings, clap::Error> {
        let argv = std::iter::once("api").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.settings)
    }

    #[test]
    fn by_default_tenants_are_not_rate_limited() {
        let settings = parse(&[]).expect("defaults parse");
        assert_eq!(settings.tenant_rate.quota().expect("consistent"), None);
    }

    #[test]
    fn the_burst_defaults_to_the_rate() {
        let settings = parse(&["--tenant-rate-limit", "50"]).expect("parses");
        let quota = settings
            .tenant_rate
            .quota()
            .expect("consistent")
            .expect("a quota");
        assert_eq!(quota.burst_size().get(), 50);
        let settings =
            parse(&["--tenant-rate-limit", "50", "--tenant-rate-burst", "200"]).expect("parses");
        let quota = settings
            .tenant_rate
            .quota()
            .expect("consistent")
            .expect("a quota");
        assert_eq!(quota.burst_size().get(), 200);
    }

    #[test]
    fn the_period_spreads_the_limit() {
        let settings =
            parse(&["--tenant-rate-limit=2", "--tenant-rate-period=3600"]).expect("parses");
        let quota = settings
            .tenant_rate
            .quota()
            .expect("consistent")
            .expect("a quota");
        assert_eq!(
            quota.replenish_interval(),
            std::time::Duration::from_secs(1800)
        );
        assert_eq!(quota.burst_size().get(), 2);
    }

    #[test]
    fn a_burst_without_a_rate_is_refused_naming_the_setting() {
        let settings = parse(&["--tenant-rate-burst", "10"]).expect("parses");
        let err = settings.tenant_rate.quota().expect_err("must be refused");
        assert_eq!(err.setting, "TENANT_RATE_BURST");
    }

    #[test]
    fn a_bad_value_is_refused_naming_the_variable() {
        for (flag, value, variable) in [
            ("--tenant-rate-limit", "-1", "TENANT_RATE_LIMIT"),
            ("--max-body-bytes", "12", "MAX_BODY_BYTES"),
            ("--api-key-cache", "soon", "API_KEY_CACHE_SECONDS"),
        ] {
            let err = parse(&[&format!("{flag}={value}")])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value} must be refused"));
            assert!(err.to_string().contains(variable), "{err}");
        }
    }
}

//! The worker's settings: one typed struct, read from the environment (or flags) and checked at start.

use crate::handlers::{EmailSettings, HandlerSettings, HttpSettings};
use crate::push_auth::PushAuthSettings;
use clap::Args;
use jobs_domain::config::{
    DatabaseSettings, ListenSettings, LogSettings, PubSubSettings, parse_seconds,
};
use jobs_domain::reconciler::ReconcilerSettings;
use lettre::message::Mailbox;
use std::fmt;
use std::time::Duration;
use url::Url;

/// Google's JSON Web Key Set for the ID tokens Pub/Sub push sends.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Everything the worker process needs to start.
#[derive(Debug, Clone, Args)]
pub struct WorkerConfig {
    /// Where to listen, and the shutdown drain.
    #[command(flatten)]
    pub listen: ListenSettings,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Log settings.
    #[command(flatten)]
    pub log: LogSettings,
    /// Pub/Sub settings, for the reconciler's publishes.
    #[command(flatten)]
    pub pubsub: PubSubSettings,
    /// How the reconciler paces itself.
    #[command(flatten)]
    pub reconciler: ReconcilerSettings,
    /// Audience the push subscription's OIDC token is minted for (usually the
    /// worker's URL). When set, every push must carry a valid token; when
    /// unset, pushes are not authenticated (local runs only).
    #[arg(long, env = "PUSH_AUDIENCE", value_name = "PUSH_AUDIENCE")]
    pub push_audience: Option<String>,
    /// The service account the push subscription signs its tokens as; required with PUSH_AUDIENCE.
    #[arg(
        long,
        env = "PUSH_SERVICE_ACCOUNT",
        value_name = "PUSH_SERVICE_ACCOUNT"
    )]
    pub push_service_account: Option<String>,
    /// Where the keys that sign push tokens are published (override for tests and local runs).
    #[arg(long, env = "PUSH_JWKS_URL", value_name = "PUSH_JWKS_URL", default_value = GOOGLE_JWKS_URL)]
    pub push_jwks_url: Url,
    /// Largest push body accepted, in bytes.
    #[arg(long, env = "PUSH_MAX_BODY_BYTES", value_name = "PUSH_MAX_BODY_BYTES", default_value_t = 1024 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub push_max_body_bytes: u32,
    /// How long a claim's lease outlasts the job's timeout, so a slow outcome write is not taken over.
    #[arg(long, env = "LEASE_GRACE_SECONDS", value_name = "LEASE_GRACE_SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub lease_grace: Duration,
    /// Longest any handler run may take, whatever the job's own timeout; keep it under the push ack deadline.
    #[arg(long, env = "JOB_MAX_TIMEOUT_SECONDS", value_name = "JOB_MAX_TIMEOUT_SECONDS", default_value = "540", value_parser = parse_seconds)]
    pub job_max_timeout: Duration,
    /// SMTP server for `email` jobs, e.g. `smtps://user:pass@smtp.example.com` or
    /// `smtp://user:pass@smtp.example.com:587?tls=required`. When unset, email
    /// jobs are only logged (addresses masked), never sent.
    #[arg(long, env = "SMTP_URL", value_name = "SMTP_URL", value_parser = SmtpUrl::unchecked)]
    pub smtp_url: Option<SmtpUrl>,
    /// Sender of `email` jobs that name none.
    #[arg(
        long,
        env = "EMAIL_FROM",
        value_name = "EMAIL_FROM",
        default_value = "jobs@localhost"
    )]
    pub email_from: Mailbox,
    /// Let `http` jobs reach loopback, private and link-local addresses
    /// (including the metadata server). Off in production: a tenant's job
    /// must not read the worker's credentials or internal services.
    #[arg(long, env = "HTTP_ALLOW_PRIVATE_NETWORKS", value_name = "HTTP_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub http_allow_private_networks: bool,
}

/// A setting that is valid alone but not with the others.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

impl WorkerConfig {
    /// How pushes are authenticated: `None` when PUSH_AUDIENCE is unset.
    pub fn push_auth(&self) -> Result<Option<PushAuthSettings>, ConfigError> {
        let audience = self.push_audience.as_deref().filter(|a| !a.is_empty());
        let account = self
            .push_service_account
            .as_deref()
            .filter(|a| !a.is_empty());
        match (audience, account) {
            (None, None) => Ok(None),
            (Some(audience), Some(account)) => Ok(Some(PushAuthSettings {
                audience: audience.to_owned(),
                service_account: account.to_owned(),
                jwks_url: self.push_jwks_url.clone(),
            })),
            // Checking the audience alone would accept a token minted for any
            // service account in any project that targets our URL.
            (Some(_), None) => Err(ConfigError {
                setting: "PUSH_SERVICE_ACCOUNT",
                message: "required when PUSH_AUDIENCE is set: the service account email the \
                          push subscription signs its tokens as"
                    .to_owned(),
            }),
            // Refused so nobody believes pushes are checked when they are not.
            (None, Some(_)) => Err(ConfigError {
                setting: "PUSH_AUDIENCE",
                message: "required when PUSH_SERVICE_ACCOUNT is set: the audience of the push \
                          subscription's tokens (usually the worker's URL)"
                    .to_owned(),
            }),
        }
    }

    /// The built-in handlers' settings, after checking SMTP_URL.
    pub fn handler_settings(&self) -> Result<HandlerSettings, ConfigError> {
        if let Some(url) = &self.smtp_url {
            url.check().map_err(|message| ConfigError {
                setting: "SMTP_URL",
                message,
            })?;
        }
        Ok(HandlerSettings {
            http: HttpSettings {
                allow_private_networks: self.http_allow_private_networks,
            },
            email: EmailSettings {
                smtp_url: self.smtp_url.clone(),
                from: self.email_from.clone(),
            },
        })
    }
}

/// An SMTP connection URL. It usually holds a password, so `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    /// Takes the value as given. Checking happens in [`SmtpUrl::check`], because
    /// clap's own parse errors quote the value, password and all.
    pub fn unchecked(value: &str) -> Result<Self, std::convert::Infallible> {
        Ok(SmtpUrl(value.to_owned()))
    }

    /// Checks the URL names an SMTP server. The message never quotes the value.
    pub fn check(&self) -> Result<(), String> {
        let url = Url::parse(&self.0).map_err(|_| "not a URL".to_owned())?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
            return Err("expected smtp://[user:pass@]host[:port] or smtps://…".to_owned());
        }
        Ok(())
    }

    /// The URL itself, for the transport only; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: WorkerConfig,
    }

    fn parse(args: &[&str]) -> WorkerConfig {
        let argv = std::iter::once("worker").chain(args.iter().copied());
        Cli::try_parse_from(argv).expect("valid flags").config
    }

    #[test]
    fn defaults_leave_push_auth_off_and_cap_jobs_at_540_seconds() {
        let config = parse(&[]);
        assert!(config.push_auth().expect("consistent").is_none());
        assert_eq!(config.job_max_timeout, Duration::from_secs(540));
        assert_eq!(config.lease_grace, Duration::from_secs(30));
        assert_eq!(config.listen.port, 8080);
        assert_eq!(config.email_from.email.to_string(), "jobs@localhost");
        assert_eq!(config.push_jwks_url.as_str(), GOOGLE_JWKS_URL);
    }

    #[test]
    fn an_audience_without_a_service_account_is_refused_naming_the_setting() {
        let config = parse(&["--push-audience", "https://worker.example.com"]);
        let err = config.push_auth().expect_err("must be refused");
        assert_eq!(err.setting, "PUSH_SERVICE_ACCOUNT");
        assert!(
            err.to_string().starts_with("PUSH_SERVICE_ACCOUNT:"),
            "{err}"
        );
    }

    #[test]
    fn a_service_account_without_an_audience_is_refused_too() {
        let config = parse(&["--push-service-account", "push@p.iam.gserviceaccount.com"]);
        let err = config.push_auth().expect_err("must be refused");
        assert_eq!(err.setting, "PUSH_AUDIENCE");
    }

    #[test]
    fn the_smtp_url_is_checked_and_never_shown() {
        let config = parse(&["--smtp-url", "smtp://user:hunter2@mail.example.com:587"]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(config.handler_settings().is_ok());
        let config = parse(&["--smtp-url", "http://user:hunter2@mail.example.com"]);
        let refused = config.handler_settings().expect_err("must be refused");
        assert_eq!(refused.setting, "SMTP_URL");
        assert!(!refused.to_string().contains("hunter2"), "{refused}");
    }
}

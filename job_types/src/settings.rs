//! The built-in job types' settings, read from the environment (or flags).

use crate::secret_box::SecretBox;
use clap::Args;
use lettre::message::Mailbox;
use std::fmt;
use url::Url;

/// What the built-in handlers need to start.
#[derive(Debug, Clone, Args)]
pub struct HandlerSettings {
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

/// The key that seals tenants' HMAC secrets at rest, read by the API (to
/// seal) and the worker (to sign).
#[derive(Debug, Clone, Args)]
pub struct SecretsSettings {
    /// Base64 of 32 random bytes (`openssl rand -base64 32`). When unset,
    /// job types with `hmac` auth are refused.
    #[arg(long, env = "JOB_TYPE_SECRETS_KEY", value_name = "JOB_TYPE_SECRETS_KEY",
          hide_env_values = true, value_parser = SecretsKey::unchecked)]
    pub job_type_secrets_key: Option<SecretsKey>,
}

impl SecretsSettings {
    /// The sealing box, `None` when no key is set; the error never quotes the key.
    pub fn secret_box(&self) -> Result<Option<SecretBox>, String> {
        match &self.job_type_secrets_key {
            None => Ok(None),
            Some(key) => SecretBox::from_base64(&key.0)
                .map(Some)
                .map_err(|err| err.to_string()),
        }
    }
}

/// A sealing key as given. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey(String);

impl SecretsKey {
    /// Takes the value as given; [`SecretsSettings::secret_box`] checks it.
    pub fn unchecked(value: &str) -> Result<Self, std::convert::Infallible> {
        Ok(SecretsKey(value.to_owned()))
    }
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
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
        settings: HandlerSettings,
    }

    fn parse(args: &[&str]) -> HandlerSettings {
        let argv = std::iter::once("worker").chain(args.iter().copied());
        Cli::try_parse_from(argv).expect("valid flags").settings
    }

    #[test]
    fn the_default_sender_is_jobs_at_localhost_and_private_networks_are_off() {
        let settings = parse(&[]);
        assert_eq!(settings.email_from.email.to_string(), "jobs@localhost");
        assert!(!settings.http_allow_private_networks);
    }

    #[test]
    fn the_smtp_url_is_checked_and_never_shown() {
        let settings = parse(&["--smtp-url", "smtp://user:hunter2@mail.example.com:587"]);
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            settings
                .smtp_url
                .as_ref()
                .is_some_and(|url| url.check().is_ok())
        );
        let settings = parse(&["--smtp-url", "http://user:hunter2@mail.example.com"]);
        let refused = settings
            .smtp_url
            .as_ref()
            .map(SmtpUrl::check)
            .expect("given")
            .expect_err("must be refused");
        assert!(!refused.contains("hunter2"), "{refused}");
    }
}

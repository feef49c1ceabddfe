//! How pushes are authenticated.

use crate::push_auth::PushAuthSettings;
use clap::Args;
use jobs_runtime::settings::SettingError;
use url::Url;

/// Google's JSON Web Key Set for the ID tokens Pub/Sub push sends.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The push subscription's OIDC token settings.
#[derive(Debug, Clone, Args)]
pub struct PushTokenSettings {
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
}

impl PushTokenSettings {
    /// What a push token must prove: `None` when PUSH_AUDIENCE is unset.
    pub fn checked(&self) -> Result<Option<PushAuthSettings>, SettingError> {
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
            (Some(_), None) => Err(SettingError {
                setting: "PUSH_SERVICE_ACCOUNT",
                message: "required when PUSH_AUDIENCE is set: the service account email the \
                          push subscription signs its tokens as"
                    .to_owned(),
            }),
            // Refused so nobody believes pushes are checked when they are not.
            (None, Some(_)) => Err(SettingError {
                setting: "PUSH_AUDIENCE",
                message: "required when PUSH_SERVICE_ACCOUNT is set: the audience of the push \
                          subscription's tokens (usually the worker's URL)"
                    .to_owned(),
            }),
        }
    }
}

//! Verifying the OIDC ID token Pub/Sub attaches to each push
//! (`Authorization: Bearer <JWT>`) with google-cloud-auth's ID-token
//! verifier: signature against Google's JWKS, audience, issuer and expiry;
//! then the push service account's verified email.
//!
//! Two things in google-cloud-auth 1.18's `Verifier` shape this wrapper:
//! - it takes its key cache with `try_write()` on every call, so a
//!   verification that meets another one in flight fails instead of waiting
//!   (every push of a burst but one, while the keys are fetched). Calls go
//!   through a mutex here, so they queue; a verification is a cache lookup
//!   and one RSA signature check, so the queue is short.
//! - its own email check indexes the claims map and panics on a token
//!   without `email_verified` or `email`, so the email is checked here, on
//!   the claims it returns.
//!
//! It fetches keys with no timeout, so the whole call is bounded here.
//!
//! It also verifies whatever algorithm the header names and skips absent
//! `aud`, `iss` and `nbf` claims, so [`token`] checks those around it.

mod token;

use crate::error::WorkerError;
use google_cloud_auth::credentials::idtoken::verifier::{Builder, Map, Value, Verifier};
use std::error::Error as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use tokio::sync::Mutex;
use url::Url;

/// Longest a verification may take, waiting for a key fetch included.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `nbf`.
const CLOCK_SKEW: Duration = Duration::from_secs(10);

/// What a push token must prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAuthSettings {
    /// The `aud` claim expected (PUSH_AUDIENCE).
    pub audience: String,
    /// The `email` claim expected, with `email_verified` true (PUSH_SERVICE_ACCOUNT).
    pub service_account: String,
    /// Where the signing keys are published (PUSH_JWKS_URL).
    pub jwks_url: Url,
}

/// Why a push was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PushAuthError {
    /// No bearer token.
    #[error("send `Authorization: Bearer <OIDC token>`")]
    Missing,
    /// The token is malformed, badly signed, expired, or for another audience or issuer.
    #[error("{0}")]
    Invalid(String),
    /// A valid token, but not for the push service account (or its email is not verified).
    #[error("the token's email is not the push service account")]
    WrongAccount,
    /// The signing keys could not be had, so the token cannot be judged yet.
    #[error("the token signing keys cannot be had: {0}")]
    KeysUnavailable(String),
}

impl From<PushAuthError> for WorkerError {
    fn from(err: PushAuthError) -> Self {
        match err {
            PushAuthError::Missing | PushAuthError::Invalid(_) => {
                WorkerError::Unauthorized(err.to_string())
            }
            PushAuthError::WrongAccount => WorkerError::Forbidden,
            PushAuthError::KeysUnavailable(_) => WorkerError::Unavailable("the token signing keys"),
        }
    }
}

/// Checks push tokens; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PushVerifier {
    service_account: String,
    // Serialises calls: the verifier fails concurrent ones (see the module docs).
    verifier: Mutex<Verifier>,
}

impl PushVerifier {
    /// A verifier for `settings`; keys are fetched on first use and cached.
    pub fn new(settings: PushAuthSettings) -> Self {
        let verifier = Builder::new([settings.audience])
            .with_jwks_url(settings.jwks_url.as_str())
            .with_clock_skew(CLOCK_SKEW)
            .build();
        PushVerifier {
            service_account: settings.service_account,
            verifier: Mutex::new(verifier),
        }
    }

    /// Verifies the `Authorization` header of a push.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<(), PushAuthError> {
        let token = authorization
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(PushAuthError::Missing)?;
        token::check_header(token)?;
        let verified = tokio::time::timeout(VERIFY_TIMEOUT, async {
            self.verifier.lock().await.verify(token).await
        })
        .await
        .map_err(|_| PushAuthError::KeysUnavailable("the key fetch timed out".to_owned()))?;
        let claims = verified.map_err(|err| refusal(&err))?;
        token::check_claims(&claims, unix_now(), CLOCK_SKEW.as_secs())?;
        if !is_account(&claims, &self.service_account) {
            return Err(PushAuthError::WrongAccount);
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, as JWT times count them.
fn unix_now() -> u64 {
    // A clock before 1970 reads as 0, which only makes `nbf`/`iat` stricter.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Whether the claims name `account` as a verified email.
fn is_account(claims: &Map<String, Value>, account: &str) -> bool {
    // Google sends a boolean; some issuers send the string "true".
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(flag)) => flag == "true",
        _ => false,
    };
    verified && claims.get("email").and_then(Value::as_str) == Some(account)
}

/// The verifier's error as a refusal, in words for the 401 body.
fn refusal(err: &google_cloud_auth::credentials::idtoken::verifier::Error) -> PushAuthError {
    if err.is_load_cert() {
        tracing::warn!(error = %err, "the push token signing keys cannot be had");
        return PushAuthError::KeysUnavailable(err.to_string());
    }
    if err.is_decode() {
        return PushAuthError::Invalid("not a JWT".to_owned());
    }
    PushAuthError::Invalid(rejection(jwt_error(err)))
}

/// The `jsonwebtoken` error under the verifier's, which says which check failed.
fn jwt_error(
    err: &google_cloud_auth::credentials::idtoken::verifier::Error,
) -> Option<&jsonwebtoken::errors::Error> {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(jwt) = cause.downcast_ref::<jsonwebtoken::errors::Error>() {
            return Some(jwt);
        }
        source = cause.source();
    }
    None
}

fn rejection(err: Option<&jsonwebtoken::errors::Error>) -> String {
    use jsonwebtoken::errors::ErrorKind;
    let words = match err.map(jsonwebtoken::errors::Error::kind) {
        Some(ErrorKind::ExpiredSignature) => "the token has expired",
        Some(ErrorKind::ImmatureSignature) => "the token is not valid yet",
        Some(ErrorKind::InvalidAudience) => "the token is for another audience",
        Some(ErrorKind::InvalidIssuer) => "the token was not issued by Google",
        Some(ErrorKind::InvalidSignature) => "the token's signature does not verify",
        Some(ErrorKind::MissingRequiredClaim(claim)) => {
            return format!("the token lacks the `{claim}` claim");
        }
        _ => "the token is not a valid ID token",
    };
    words.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: serde_json::Value) -> Map<String, Value> {
        serde_json::from_value(value).expect("claims object")
    }

    #[test]
    fn the_account_must_match_and_be_verified() {
        let account = "push@p.iam.gserviceaccount.com";
        assert!(is_account(
            &claims(json!({"email": account, "email_verified": true})),
            account
        ));
        assert!(is_account(
            &claims(json!({"email": account, "email_verified": "true"})),
            account
        ));
        for refused in [
            json!({"email": account, "email_verified": false}),
            json!({"email": account}),
            json!({"email_verified": true}),
            json!({"email": "other@p.iam.gserviceaccount.com", "email_verified": true}),
            json!({"email": account, "email_verified": 1}),
        ] {
            assert!(!is_account(&claims(refused.clone()), account), "{refused}");
        }
    }
}

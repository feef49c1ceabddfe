//! Verifying the OIDC ID token Pub/Sub attaches to each push
//! (`Authorization: Bearer <JWT>`): an RS256 signature by one of Google's
//! keys, our audience, Google as issuer, unexpired, then the push service
//! account's verified email.
//!
//! - `token` says what a token must be; `jsonwebtoken` checks the
//!   signature and the registered claims.
//! - `key_cache` holds the keys by `kid`: tokens signed with a cached key
//!   never wait for the JWKS, and the JWKS is fetched at most once per
//!   `MIN_FETCH_INTERVAL` (10 s), one fetch at a time.
//! - `jwks` fetches the keys over HTTP with a timeout.
//!
//! Answers: no or a bad token is 401, and so is a `kid` the JWKS does not
//! list when it was last fetched fine (forged or long rotated away). 503
//! means the token cannot be judged: its `kid` is not cached and the last
//! JWKS fetch failed. Pub/Sub redelivers either way; a 503 says the fault is ours.
//!
//! google-cloud-auth's ID-token verifier was used before; it fetched the
//! JWKS on every unknown `kid`, could not run two verifications at once and
//! skipped absent claims, so it is no longer used.

mod jwks;
mod key_cache;
mod token;

use crate::error::WorkerError;
use jsonwebtoken::Validation;
use jwks::HttpJwks;
use key_cache::{KeyCache, KeyError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;
use url::Url;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
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
    /// No bearer token: send one.
    #[error("send `Authorization: Bearer <OIDC token>`")]
    Missing,
    /// The token is malformed, badly signed, expired, for another audience or
    /// issuer, or signed with a key Google does not publish: send another.
    #[error("{0}")]
    Invalid(String),
    /// A valid token, but not for the push service account (or its email is
    /// not verified): check PUSH_SERVICE_ACCOUNT against the subscription.
    #[error("the token's email is not the push service account")]
    WrongAccount,
    /// The signing keys could not be fetched, so the token cannot be judged yet: retry later.
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

impl From<KeyError> for PushAuthError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::Unknown => PushAuthError::Invalid(err.to_string()),
            KeyError::Unavailable(why) => PushAuthError::KeysUnavailable(why),
        }
    }
}

/// Checks push tokens; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PushVerifier {
    service_account: String,
    validation: Validation,
    keys: KeyCache<HttpJwks>,
}

impl PushVerifier {
    /// A verifier for `settings`; keys are fetched on first use and cached.
    pub fn new(settings: PushAuthSettings) -> Self {
        PushVerifier {
            validation: token::validation(&settings.audience, CLOCK_SKEW.as_secs()),
            service_account: settings.service_account,
            keys: KeyCache::new(HttpJwks::new(settings.jwks_url)),
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
        // The header first: a token of the wrong shape costs no key lookup.
        let kid = token::check_header(token)?;
        let key = self.keys.key(&kid).await?;
        let claims = token::decode(token, &key, &self.validation, unix_now())?;
        if !token::is_account(&claims, &self.service_account) {
            return Err(PushAuthError::WrongAccount);
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, as JWT times count them.
fn unix_now() -> u64 {
    // A clock before 1970 reads as 0, which only makes `iat` stricter.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

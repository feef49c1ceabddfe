//! Verifying the OIDC ID token Pub/Sub attaches to each push
//! (`Authorization: Bearer <JWT>`): RS256 signature against Google's JWKS,
//! audience, issuer, expiry, and the push service account's verified email.
//!
//! This uses `jsonwebtoken` directly rather than google-cloud-auth's
//! `idtoken::verifier::Verifier` (1.18). That verifier takes its key cache with
//! `try_write()` on every call, so a push verified while another one holds the
//! cache (always during a key fetch) fails instead of waiting; a burst of
//! concurrent pushes after a cold start is answered mostly with errors. It
//! also fetches keys without a timeout and refetches on every unknown `kid`.
//! The cache below serves concurrent readers, fetches one at a time with a
//! timeout, keeps serving known keys when a refresh fails, and refetches for
//! unknown key ids at most every [`REFETCH_INTERVAL`].

use crate::error::WorkerError;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::Mutex;
use url::Url;

/// The issuers Google's ID tokens carry.
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// How long fetched keys are trusted before they are fetched again. Google
/// rotates its keys over days and publishes new ones well before use.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The shortest gap between two fetches, so tokens naming unknown keys cannot
/// make the worker hammer the key endpoint.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Longest a key fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 10;

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
    /// The signing keys could not be fetched, so the token cannot be judged yet.
    #[error("the token signing keys cannot be fetched: {0}")]
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

/// The claims checked beyond what [`Validation`] covers.
#[derive(Debug, Deserialize)]
struct PushClaims {
    email: Option<String>,
    email_verified: Option<Value>,
}

/// Checks push tokens; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PushVerifier {
    service_account: String,
    validation: Validation,
    keys: SigningKeys,
}

impl PushVerifier {
    /// A verifier for `settings`; keys are fetched on first use.
    pub fn new(settings: PushAuthSettings) -> Result<Self, reqwest::Error> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&settings.audience]);
        validation.set_issuer(&ISSUERS);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()?;
        Ok(PushVerifier {
            service_account: settings.service_account,
            validation,
            keys: SigningKeys {
                url: settings.jwks_url,
                client,
                cached: RwLock::new(CachedKeys::default()),
                fetching: Mutex::new(()),
            },
        })
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
        let header =
            decode_header(token).map_err(|_| PushAuthError::Invalid("not a JWT".to_owned()))?;
        // Pinned, never taken from the token, so no other algorithm is tried.
        if header.alg != Algorithm::RS256 {
            return Err(PushAuthError::Invalid(
                "the token must be signed with RS256".to_owned(),
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| PushAuthError::Invalid("the token names no signing key".to_owned()))?;
        let key = self.keys.get(&kid).await?;
        let claims = decode::<PushClaims>(token, &key, &self.validation)
            .map_err(|err| PushAuthError::Invalid(rejection(&err)))?
            .claims;
        let verified = claims.email_verified.as_ref().and_then(verified_flag) == Some(true);
        if claims.email.as_deref() != Some(self.service_account.as_str()) || !verified {
            return Err(PushAuthError::WrongAccount);
        }
        Ok(())
    }
}

/// `email_verified` is a boolean in Google's tokens; some issuers send the string "true".
fn verified_flag(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(flag) => flag.parse().ok(),
        _ => None,
    }
}

/// Why `jsonwebtoken` refused a token, in words for the 401 body.
fn rejection(err: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match err.kind() {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token was not issued by Google",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        _ => "the token is not a valid ID token",
    }
    .to_owned()
}

/// The JWKS, cached.
#[derive(Debug)]
struct SigningKeys {
    url: Url,
    client: reqwest::Client,
    // A std lock: it is never held across an await, and readers never wait on a fetch.
    cached: RwLock<CachedKeys>,
    // Held across a fetch, so concurrent misses wait for one fetch instead of racing.
    fetching: Mutex<()>,
}

#[derive(Debug, Default)]
struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    last_error: Option<String>,
}

impl CachedKeys {
    fn fresh(&self, kid: &str) -> Option<DecodingKey> {
        let fresh = self.fetched_at.is_some_and(|at| at.elapsed() < KEYS_TTL);
        fresh.then(|| self.keys.get(kid).cloned()).flatten()
    }
}

impl SigningKeys {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CachedKeys> {
        // A panic elsewhere cannot leave the map half-written: writers only swap whole values.
        self.cached.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CachedKeys> {
        self.cached.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key `kid`, fetching the set when it is unknown or stale.
    async fn get(&self, kid: &str) -> Result<DecodingKey, PushAuthError> {
        if let Some(key) = self.read().fresh(kid) {
            return Ok(key);
        }
        let _one_fetch_at_a_time = self.fetching.lock().await;
        // Whoever held the lock before us may just have fetched it.
        if let Some(key) = self.read().fresh(kid) {
            return Ok(key);
        }
        let may_fetch = self
            .read()
            .attempted_at
            .is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL);
        if may_fetch {
            self.write().attempted_at = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    let mut cached = self.write();
                    cached.keys = keys;
                    cached.fetched_at = Some(Instant::now());
                    cached.last_error = None;
                }
                Err(err) => {
                    tracing::warn!(error = %err, url = %self.url, "fetching the push token signing keys failed");
                    self.write().last_error = Some(err);
                }
            }
        }
        let cached = self.read();
        // A stale key beats none: keys outlive their listing by days.
        if let Some(key) = cached.keys.get(kid) {
            return Ok(key.clone());
        }
        match &cached.last_error {
            Some(err) => Err(PushAuthError::KeysUnavailable(err.clone())),
            None => Err(PushAuthError::Invalid(
                "the token was signed by an unknown key".to_owned(),
            )),
        }
    }

    /// Fetches the RSA keys of the set, by key id; other keys are skipped.
    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| err.without_url().to_string())?;
        let set: Value = response
            .json()
            .await
            .map_err(|err| err.without_url().to_string())?;
        let listed = set
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the response is not a JSON Web Key Set")?;
        // Parsed one by one, so a key of a kind we do not know spoils only itself.
        let keys: HashMap<String, DecodingKey> = listed
            .iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value.clone()).ok())
            .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(&jwk).ok().map(|key| (kid, key))
            })
            .collect();
        if keys.is_empty() {
            return Err("the key set holds no RSA keys with a key id".to_owned());
        }
        Ok(keys)
    }
}

//! Google-signed ID tokens for `oidc` targets, as Cloud Tasks sends them to
//! Cloud Run: minted for an audience from the worker's own service account.
//!
//! [`GoogleIdTokens`] keeps its own cache, one token per audience until
//! shortly before the token's `exp`, rather than holding one of
//! google-cloud-auth's `IDTokenCredentials` per audience: each of those
//! refreshes its token in a background task for as long as it lives, so
//! keeping one per audience ever called would refresh tokens for every
//! tenant target forever. Here a credentials object is built for a fetch and
//! dropped after it, and nothing happens for an audience no job calls.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use google_cloud_auth::credentials::idtoken;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// How long before its `exp` a cached token is replaced, so that a target
/// never receives one about to expire (the metadata server refreshes 4 to 5
/// minutes ahead too).
const REFRESH_BEFORE: Duration = Duration::from_secs(300);

/// Where ID tokens come from; the worker shares one source between jobs.
#[async_trait]
pub trait IdTokenSource: Send + Sync {
    /// A valid ID token whose `aud` is `audience`.
    async fn id_token(&self, audience: &str) -> Result<String, IdTokenError>;
}

/// Why no ID token could be had.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// No credentials, or the token service failed; retry the job later
    /// (and give the worker a service account if it has none).
    #[error("cannot get an ID token: {0}")]
    Unavailable(String),
}

/// Fetches one fresh token: the part of [`GoogleIdTokens`] a test replaces.
#[async_trait]
trait Fetch: Send + Sync {
    async fn fetch(&self, audience: &str) -> Result<String, IdTokenError>;
}

/// Application Default Credentials: the metadata server on Google Cloud, or
/// the service-account key `GOOGLE_APPLICATION_CREDENTIALS` names.
struct ApplicationDefault;

#[async_trait]
impl Fetch for ApplicationDefault {
    async fn fetch(&self, audience: &str) -> Result<String, IdTokenError> {
        // Built per fetch: building reads the environment, so a machine
        // without credentials fails here, at call time, and not at start-up.
        let credentials = idtoken::Builder::new(audience)
            // Targets check the caller by its `email`, as Cloud Run does.
            .with_include_email()
            .build()
            .map_err(|err| IdTokenError::Unavailable(err.to_string()))?;
        credentials
            .id_token()
            .await
            .map_err(|err| IdTokenError::Unavailable(err.to_string()))
    }
}

/// A token and when it expires, in Unix seconds.
struct Cached {
    token: String,
    expires_at: i64,
}

/// One audience's cache entry; its lock is held across a fetch, so callers
/// of a cold audience wait for one fetch instead of each making their own.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

/// ID tokens of the worker's service account from google-cloud-auth, cached
/// per audience. Creating it never fails: without credentials each call
/// fails (retryably), and the first failure of a run of them is logged.
pub struct GoogleIdTokens {
    fetch: Box<dyn Fetch>,
    slots: Mutex<HashMap<String, Slot>>,
    failing: AtomicBool,
}

impl GoogleIdTokens {
    /// The source backed by Application Default Credentials.
    pub fn new() -> Self {
        Self::with_fetch(Box::new(ApplicationDefault))
    }

    fn with_fetch(fetch: Box<dyn Fetch>) -> Self {
        GoogleIdTokens {
            fetch,
            slots: Mutex::new(HashMap::new()),
            failing: AtomicBool::new(false),
        }
    }

    /// The audience's slot, made on first use. Slots whose token has
    /// expired are dropped then, so the map holds only audiences in use.
    fn slot(&self, audience: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(audience) {
            return slot.clone();
        }
        let now = unix_now();
        slots.retain(|_, slot| match slot.try_lock() {
            Ok(cached) => cached.as_ref().is_some_and(|c| c.expires_at > now),
            // Locked: a fetch is under way.
            Err(_) => true,
        });
        let slot = Slot::default();
        slots.insert(audience.to_owned(), slot.clone());
        slot
    }

    fn note_failure(&self, err: &IdTokenError) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %err, "cannot get ID tokens; oidc targets are retried until they can be had");
        } else {
            tracing::debug!(error = %err, "still cannot get ID tokens");
        }
    }

    fn note_success(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("ID tokens can be had again");
        }
    }
}

impl Default for GoogleIdTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GoogleIdTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleIdTokens").finish_non_exhaustive()
    }
}

#[async_trait]
impl IdTokenSource for GoogleIdTokens {
    async fn id_token(&self, audience: &str) -> Result<String, IdTokenError> {
        let slot = self.slot(audience);
        let mut cached = slot.lock().await;
        if let Some(fresh) = cached
            .as_ref()
            .filter(|c| is_fresh(c.expires_at, unix_now()))
        {
            return Ok(fresh.token.clone());
        }
        let token = match self.fetch.fetch(audience).await {
            Ok(token) => token,
            Err(err) => {
                self.note_failure(&err);
                return Err(err);
            }
        };
        self.note_success();
        *cached = match expiry(&token) {
            Some(expires_at) => Some(Cached {
                token: token.clone(),
                expires_at,
            }),
            // Without a readable `exp` the token is used once and not kept.
            None => {
                tracing::debug!("the ID token has no readable `exp`; not caching it");
                None
            }
        };
        Ok(token)
    }
}

/// Whether a token expiring at `expires_at` may still be handed out at `now`.
fn is_fresh(expires_at: i64, now: i64) -> bool {
    let margin = i64::try_from(REFRESH_BEFORE.as_secs()).unwrap_or(i64::MAX);
    expires_at.saturating_sub(margin) > now
}

/// The JWT's `exp` in Unix seconds, read without checking the signature:
/// the token came from Google over TLS, and only its lifetime is wanted.
fn expiry(token: &str) -> Option<i64> {
    let claims = token.split('.').nth(1)?;
    let claims = URL_SAFE_NO_PAD.decode(claims.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&claims).ok()?;
    let exp = claims.get("exp")?;
    // RFC 7519 NumericDate: seconds, possibly fractional.
    exp.as_i64().or_else(|| exp.as_f64().map(|exp| exp as i64))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::AtomicUsize;

    /// Hands out unsigned tokens expiring `lifetime` seconds after the fetch,
    /// counting fetches; fails while `failing` is set.
    struct Counting {
        fetches: Arc<AtomicUsize>,
        lifetime: i64,
        failing: Arc<AtomicBool>,
    }

    #[async_trait]
    impl Fetch for Counting {
        async fn fetch(&self, audience: &str) -> Result<String, IdTokenError> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(IdTokenError::Unavailable("no credentials".to_owned()));
            }
            let claims = json!({"aud": audience, "exp": unix_now() + self.lifetime, "n": n});
            Ok(format!(
                "e30.{}.c2ln",
                URL_SAFE_NO_PAD.encode(claims.to_string())
            ))
        }
    }

    fn source(lifetime: i64) -> (GoogleIdTokens, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let fetch = Counting {
            fetches: fetches.clone(),
            lifetime,
            failing: failing.clone(),
        };
        (
            GoogleIdTokens::with_fetch(Box::new(fetch)),
            fetches,
            failing,
        )
    }

    #[tokio::test]
    async fn a_token_is_fetched_once_per_audience_while_it_is_fresh() {
        let (tokens, fetches, _) = source(3600);
        let first = tokens.id_token("https://a.example").await;
        let again = tokens.id_token("https://a.example").await;
        assert!(first.is_ok());
        assert_eq!(first, again);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let other = tokens.id_token("https://b.example").await;
        assert_ne!(other, first);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_close_to_its_expiry_is_replaced() {
        let (tokens, fetches, _) = source(60);
        let first = tokens.id_token("https://a.example").await;
        let second = tokens.id_token("https://a.example").await;
        assert!(first.is_ok() && second.is_ok());
        assert_ne!(first, second);
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_calls_for_a_cold_audience_share_one_fetch() {
        let (tokens, fetches, _) = source(3600);
        let (one, two) = tokio::join!(tokens.id_token("https://a"), tokens.id_token("https://a"));
        assert!(one.is_ok());
        assert_eq!(one, two);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failure_is_returned_and_not_cached() {
        let (tokens, fetches, failing) = source(3600);
        failing.store(true, Ordering::SeqCst);
        let err = tokens
            .id_token("https://a")
            .await
            .expect_err("no credentials");
        assert!(matches!(err, IdTokenError::Unavailable(_)), "{err}");
        failing.store(false, Ordering::SeqCst);
        assert!(tokens.id_token("https://a").await.is_ok());
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn expiry_is_read_from_the_claims_and_missing_when_unreadable() {
        let token =
            |claims: Value| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()));
        assert_eq!(
            expiry(&token(json!({"exp": 1_800_000_000}))),
            Some(1_800_000_000)
        );
        assert_eq!(
            expiry(&token(json!({"exp": 1_800_000_000.5}))),
            Some(1_800_000_000)
        );
        assert_eq!(expiry(&token(json!({"exp": "soon"}))), None);
        assert_eq!(expiry(&token(json!({}))), None);
        assert_eq!(expiry("not a jwt"), None);
        assert_eq!(expiry("a.!!!.c"), None);
    }

    #[test]
    fn a_token_is_fresh_until_the_margin_before_its_expiry() {
        let now = 1_800_000_000;
        assert!(is_fresh(now + 301, now));
        assert!(!is_fresh(now + 300, now));
        assert!(!is_fresh(now - 1, now));
    }
}

//! Fetching Google's token signing keys: one HTTP GET of the JWKS, bounded
//! by [`FETCH_TIMEOUT`], keeping only the keys a push token may be signed
//! with, and the `Cache-Control: max-age` that says how long they stay fresh.

use super::key_cache::{FetchedKeys, KeySource};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use reqwest::header::CACHE_CONTROL;
use serde::Deserialize;
use std::collections::HashMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use url::Url;

/// Longest one JWKS fetch may take; pushes with an unknown key wait for it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the signing keys could not be fetched.
#[derive(Debug, Error)]
#[non_exhaustive]
pub(super) enum FetchError {
    /// No HTTP client could be built (TLS setup); nothing to retry until restart.
    #[error("no HTTP client for the JWKS: {0}")]
    Client(String),
    /// The request failed, timed out or was answered with an error status: retry later.
    #[error("the JWKS request failed: {}", with_causes(.0))]
    Request(#[from] reqwest::Error),
    /// The body is not a JWKS: check PUSH_JWKS_URL.
    #[error("the JWKS is not a JSON key set: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A JWKS without one usable key: check PUSH_JWKS_URL.
    #[error("the JWKS lists no RS256 signing key with a `kid`")]
    NoKeys,
}

/// The keys at a JWKS URL, fetched over HTTP.
#[derive(Debug)]
pub(super) struct HttpJwks {
    url: Url,
    // Kept as the build error so a broken TLS setup answers 503 instead of panicking.
    client: Result<reqwest::Client, String>,
}

impl HttpJwks {
    /// A source for the JWKS at `url`.
    pub(super) fn new(url: Url) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|err| with_causes(&err));
        HttpJwks { url, client }
    }
}

impl KeySource for HttpJwks {
    type Error = FetchError;

    async fn fetch(&self) -> Result<FetchedKeys, FetchError> {
        let client = self
            .client
            .as_ref()
            .map_err(|err| FetchError::Client(err.clone()))?;
        let response = client
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?;
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let body = response.bytes().await?;
        Ok(FetchedKeys {
            keys: signing_keys(&body)?,
            max_age,
        })
    }
}

/// The JWKS document, each key left raw so one odd key cannot spoil the rest.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

/// The RS256 signing keys of a JWKS by `kid`; other keys are skipped.
fn signing_keys(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, FetchError> {
    let set: KeySet = serde_json::from_slice(body)?;
    let keys: HashMap<_, _> = set
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter(is_signing_key)
        .filter_map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some((jwk.common.key_id?, Arc::new(key)))
        })
        .collect();
    if keys.is_empty() {
        return Err(FetchError::NoKeys);
    }
    Ok(keys)
}

/// Whether `jwk` is an RSA key that may verify RS256 signatures, the only
/// algorithm [`super::token`] accepts.
fn is_signing_key(jwk: &Jwk) -> bool {
    let rsa = matches!(jwk.algorithm, AlgorithmParameters::RSA(_));
    // Both are optional in a JWK; when present they must agree.
    let algorithm = jwk
        .common
        .key_algorithm
        .is_none_or(|alg| alg == KeyAlgorithm::RS256);
    let usage = jwk
        .common
        .public_key_use
        .as_ref()
        .is_none_or(|usage| *usage == PublicKeyUse::Signature);
    rsa && algorithm && usage
}

/// The `max-age` of a `Cache-Control` value; `no-cache`/`no-store` read as zero.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|directive| {
        let directive = directive.trim();
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        {
            return Some(Duration::ZERO);
        }
        let (name, value) = directive.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| value.trim().trim_matches('"').parse().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

/// An error and its causes on one line: reqwest's own message omits them
/// ("error sending request" without "connection refused").
fn with_causes(err: &reqwest::Error) -> String {
    let mut words = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        words.push_str(": ");
        words.push_str(&err.to_string());
        cause = err.source();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa(kid: Option<&str>, extra: serde_json::Value) -> serde_json::Value {
        let mut key = json!({"kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"});
        if let Some(kid) = kid {
            key["kid"] = json!(kid);
        }
        if let (Some(key), Some(extra)) = (key.as_object_mut(), extra.as_object()) {
            key.extend(extra.clone());
        }
        key
    }

    #[test]
    fn only_rsa_signing_keys_for_rs256_with_a_kid_are_kept() {
        let body = json!({"keys": [
            rsa(Some("plain"), json!({})),
            rsa(Some("rs256"), json!({"alg": "RS256", "use": "sig"})),
            rsa(Some("rs512"), json!({"alg": "RS512"})),
            rsa(Some("encryption"), json!({"use": "enc"})),
            rsa(Some("oaep"), json!({"alg": "RSA-OAEP"})),
            rsa(None, json!({})),
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kid": "garbage"},
        ]});
        let keys = signing_keys(body.to_string().as_bytes()).expect("keys");
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["plain", "rs256"]);
    }

    #[test]
    fn a_key_set_without_a_usable_key_or_not_json_is_an_error() {
        let only_ec =
            json!({"keys": [{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}]});
        assert!(matches!(
            signing_keys(only_ec.to_string().as_bytes()),
            Err(FetchError::NoKeys)
        ));
        assert!(matches!(
            signing_keys(b"<html>"),
            Err(FetchError::Malformed(_))
        ));
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let google = "public, max-age=19845, must-revalidate, no-transform";
        assert_eq!(max_age(google), Some(Duration::from_secs(19845)));
        assert_eq!(max_age("Max-Age = \"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}

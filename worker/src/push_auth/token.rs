//! What a push token must be, besides signed by a key of the JWKS: an RS256
//! JWT without `crit` header parameters, for our audience, issued by Google,
//! unexpired, already valid, and for the push service account.
//!
//! A JWT library checks only the claims that are present and any algorithm
//! the caller allows, so the required claims and the one algorithm are
//! pinned down here.

use super::PushAuthError;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The algorithm Google signs ID tokens with, and the only one accepted:
/// the same RSA key must not verify under another scheme.
pub(super) const ALGORITHM: Algorithm = Algorithm::RS256;

/// The `iss` values of Google-signed ID tokens.
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Claims the JWT library must find before it checks them (`email` and
/// `email_verified` are the account check's, which answers 403 without them).
const REQUIRED_CLAIMS: [&str; 3] = ["aud", "iss", "exp"];

/// The header checks, done before any key is looked up; returns the `kid`.
pub(super) fn check_header(token: &str) -> Result<String, PushAuthError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| PushAuthError::Invalid("not a JWT".to_owned()))?;
    if header.alg != ALGORITHM {
        return Err(PushAuthError::Invalid(format!(
            "the token must be signed with RS256, not {:?}",
            header.alg
        )));
    }
    // RFC 7515 §4.1.11: a receiver must refuse extensions it does not
    // understand, and this one understands none.
    if header.crit.is_some() {
        return Err(PushAuthError::Invalid(
            "the token has `crit` header parameters, which this service does not support"
                .to_owned(),
        ));
    }
    header
        .kid
        .ok_or_else(|| PushAuthError::Invalid("the token names no signing key (`kid`)".to_owned()))
}

/// The checks on the signature and the registered claims; `skew_seconds`
/// of clock skew are allowed on `exp` and `nbf`.
pub(super) fn validation(audience: &str, skew_seconds: u64) -> Validation {
    let mut validation = Validation::new(ALGORITHM);
    validation.set_audience(&[audience]);
    validation.set_issuer(&GOOGLE_ISSUERS);
    validation.set_required_spec_claims(&REQUIRED_CLAIMS);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = skew_seconds;
    validation
}

/// The claims of `token` once its signature, registered claims and `iat`
/// (not after `now` plus the validation's skew, in Unix seconds) check out.
pub(super) fn decode(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
    now: u64,
) -> Result<Map<String, Value>, PushAuthError> {
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
        .map_err(|err| PushAuthError::Invalid(rejection(err.kind())))?
        .claims;
    check_issued_at(&claims, now.saturating_add(validation.leeway))?;
    Ok(claims)
}

/// Refuses a token whose `iat`, when present, is after `latest`; the JWT
/// library does not look at `iat`.
fn check_issued_at(claims: &Map<String, Value>, latest: u64) -> Result<(), PushAuthError> {
    let Some(issued_at) = claims.get("iat") else {
        return Ok(());
    };
    // RFC 7519 NumericDate: seconds, possibly fractional.
    let issued_at = issued_at
        .as_f64()
        .ok_or_else(|| PushAuthError::Invalid("the token's `iat` is not a number".to_owned()))?;
    if issued_at > latest as f64 {
        return Err(PushAuthError::Invalid(
            "the token was issued in the future".to_owned(),
        ));
    }
    Ok(())
}

/// Whether the claims name `account` as a verified email.
pub(super) fn is_account(claims: &Map<String, Value>, account: &str) -> bool {
    // Google sends a boolean; some issuers send the string "true".
    let verified = match claims.get("email_verified") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(flag)) => flag == "true",
        _ => false,
    };
    verified && claims.get("email").and_then(Value::as_str) == Some(account)
}

/// Which check failed, in words for the 401 body.
fn rejection(kind: &ErrorKind) -> String {
    let words = match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token was not issued by Google",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::InvalidAlgorithm => "the token must be signed with RS256",
        ErrorKind::MissingRequiredClaim(claim) => {
            return format!("the token lacks the `{claim}` claim");
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            return format!("the token's `{claim}` claim is malformed");
        }
        ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => "not a JWT",
        _ => "the token is not a valid ID token",
    };
    words.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        serde_json::from_value(value).expect("claims object")
    }

    /// An unsigned token with `header`; the header checks never look further.
    fn with_header(header: Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        format!("{header}.e30.c2ln")
    }

    #[test]
    fn the_header_must_be_rs256_without_crit_and_name_a_key() {
        let good = json!({"alg": "RS256", "typ": "JWT", "kid": "k"});
        assert_eq!(check_header(&with_header(good)), Ok("k".to_owned()));
        for (refused, words) in [
            (json!({"alg": "RS512", "kid": "k"}), "RS256"),
            (json!({"alg": "PS256", "kid": "k"}), "RS256"),
            (json!({"alg": "HS256", "kid": "k"}), "RS256"),
            (json!({"alg": "none", "kid": "k"}), "not a JWT"),
            (json!({"alg": "RS256", "kid": "k", "crit": ["exp"]}), "crit"),
            (json!({"alg": "RS256", "kid": "k", "crit": []}), "crit"),
            (json!({"alg": "RS256"}), "kid"),
        ] {
            let err = check_header(&with_header(refused.clone())).expect_err("refused");
            assert!(err.to_string().contains(words), "{refused}: {err}");
        }
        assert!(check_header("not-a-jwt").is_err());
    }

    #[test]
    fn iat_may_be_up_to_the_skew_ahead_and_no_more() {
        let latest = 1_800_000_010;
        assert_eq!(check_issued_at(&claims(json!({})), latest), Ok(()));
        assert_eq!(
            check_issued_at(&claims(json!({"iat": latest})), latest),
            Ok(())
        );
        for refused in [json!(latest + 1), json!(latest as f64 + 0.5), json!("soon")] {
            let claims = claims(json!({ "iat": refused }));
            assert!(check_issued_at(&claims, latest).is_err(), "{refused}");
        }
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

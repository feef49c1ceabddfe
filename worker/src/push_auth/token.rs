//! The checks a push token must pass besides its signature, audience, issuer
//! and expiry: a JWT library verifies only the claims that are present and
//! whatever algorithm the header names, so both are pinned down here.

use super::PushAuthError;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Map, Value};

/// The algorithm Google signs ID tokens with, and the only one accepted:
/// the same RSA key must not verify under another scheme.
pub(super) const ALGORITHM: Algorithm = Algorithm::RS256;

/// Claims every push token must carry (`email` is the account check's).
const REQUIRED_CLAIMS: [&str; 3] = ["aud", "iss", "exp"];

/// The header of `token`, if it is an RS256 JWT with no `crit` parameters.
pub(super) fn check_header(token: &str) -> Result<Header, PushAuthError> {
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
    Ok(header)
}

/// Checks that the required claims are present and that `nbf` and `iat` are
/// not later than `now` (Unix seconds) plus `skew`.
pub(super) fn check_claims(
    claims: &Map<String, Value>,
    now: u64,
    skew: u64,
) -> Result<(), PushAuthError> {
    if let Some(missing) = REQUIRED_CLAIMS
        .iter()
        .find(|claim| !claims.contains_key(**claim))
    {
        return Err(PushAuthError::Invalid(format!(
            "the token lacks the `{missing}` claim"
        )));
    }
    let latest = now.saturating_add(skew);
    if is_after(claims, "nbf", latest)? {
        return Err(PushAuthError::Invalid(
            "the token is not valid yet".to_owned(),
        ));
    }
    if is_after(claims, "iat", latest)? {
        return Err(PushAuthError::Invalid(
            "the token was issued in the future".to_owned(),
        ));
    }
    Ok(())
}

/// Whether the time claim `name`, when present, is after `latest`.
fn is_after(claims: &Map<String, Value>, name: &str, latest: u64) -> Result<bool, PushAuthError> {
    match claims.get(name) {
        None => Ok(false),
        // RFC 7519 NumericDate: seconds, possibly fractional.
        Some(value) => value
            .as_f64()
            .map(|time| time > latest as f64)
            .ok_or_else(|| PushAuthError::Invalid(format!("the token's `{name}` is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const SKEW: u64 = 10;

    fn claims(extra: Value) -> Map<String, Value> {
        let mut claims = json!({"aud": "a", "iss": "i", "exp": NOW + 3600, "iat": NOW});
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        serde_json::from_value(claims).expect("claims object")
    }

    #[test]
    fn times_within_the_skew_pass_and_later_ones_do_not() {
        let within = json!({"nbf": NOW + SKEW, "iat": NOW + SKEW});
        assert_eq!(check_claims(&claims(within), NOW, SKEW), Ok(()));
        for (refused, words) in [
            (json!({"nbf": NOW + SKEW + 1}), "not valid yet"),
            (json!({"iat": NOW + SKEW + 1}), "issued in the future"),
            (
                json!({"iat": (NOW + SKEW) as f64 + 0.5}),
                "issued in the future",
            ),
            (json!({"nbf": "soon"}), "not a number"),
        ] {
            let err = check_claims(&claims(refused.clone()), NOW, SKEW).expect_err("refused");
            assert!(err.to_string().contains(words), "{refused}: {err}");
        }
    }

    #[test]
    fn a_token_lacking_a_required_claim_is_named_in_the_refusal() {
        for claim in REQUIRED_CLAIMS {
            let mut claims = claims(json!({}));
            claims.remove(claim);
            let err = check_claims(&claims, NOW, SKEW).expect_err("refused");
            assert!(err.to_string().contains(claim), "{err}");
        }
    }
}

//! The `Jobs-Signature` header of HMAC-authenticated targets, Stripe-style:
//! `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. The timestamp is
//! signed with the body, so a target that checks it against its clock can
//! refuse a replayed request.
//!
//! A target verifies a request with [`verify`]:
//!
//! ```
//! use jobs_job_types::signature::{sign, verify};
//! use std::time::Duration;
//!
//! let secret = "whsec_example";
//! let body = br#"{"job":{}}"#;
//! let header = sign(secret, 1_800_000_000, body);
//! assert!(verify(secret, &header, body, 1_800_000_030, Duration::from_secs(300)).is_ok());
//! assert!(verify("another secret", &header, body, 1_800_000_030, Duration::from_secs(300)).is_err());
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use thiserror::Error;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "jobs-signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature does not verify; the target should refuse the request (401).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>`; refuse the request.
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    /// The timestamp is further from now than the tolerance: a replay, or a
    /// clock far off; refuse the request.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No `v1` signature matches the body under this secret; refuse the request.
    #[error("the signature does not match")]
    Mismatch,
}

/// The HMAC-SHA256 of `t.body` under `secret`'s UTF-8 bytes.
fn mac(secret: &str, unix_seconds: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Jobs-Signature` header value for `body` sent at `unix_seconds`.
pub fn sign(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let digest = mac(secret, unix_seconds, body).finalize().into_bytes();
    format!("t={unix_seconds},v1={}", hex::encode(digest))
}

/// Checks a `Jobs-Signature` header against `body` and `secret`, and that its
/// timestamp is within `tolerance` of `now` (Unix seconds) either way. Any
/// `v1` entry may match, so a sender may sign with two secrets while one
/// replaces the other; entries of other schemes are ignored.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for entry in header.split(',') {
        let (scheme, value) = entry
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match scheme {
            "t" if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    // `verify_slice` compares in constant time, so the comparison leaks no prefix.
    if signatures
        .iter()
        .any(|signature| expected.clone().verify_slice(signature).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: Duration = Duration::from_secs(300);

    #[test]
    fn a_signature_has_the_documented_form_and_a_known_value() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let header = sign("secret", 1_700_000_000, b"body");
        assert_eq!(
            verify("secret", &header, b"body", 1_700_000_000, TOLERANCE),
            Ok(())
        );
        assert_eq!(
            verify("other", &header, b"body", 1_700_000_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("secret", &header, b"b0dy", 1_700_000_000, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_timestamp_outside_the_tolerance_fails_either_way() {
        let header = sign("secret", 1_700_000_000, b"body");
        for now in [1_700_000_301, 1_699_999_699] {
            assert_eq!(
                verify("secret", &header, b"body", now, TOLERANCE),
                Err(SignatureError::Stale),
                "{now}"
            );
        }
        assert_eq!(
            verify("secret", &header, b"body", 1_700_000_300, TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn a_changed_timestamp_breaks_the_signature() {
        let header = sign("secret", 1_700_000_000, b"body");
        let moved = header.replacen("t=1700000000", "t=1700000100", 1);
        assert_eq!(
            verify("secret", &moved, b"body", 1_700_000_100, TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_v1_entry_may_match_and_other_schemes_are_ignored() {
        let header = sign("new", 1_700_000_000, b"body");
        let v1 = header.split_once(",v1=").map(|(_, v1)| v1).unwrap_or("");
        let rotated = format!("t=1700000000,v1={},v0=zz,v1={v1}", "00".repeat(32));
        assert_eq!(
            verify("new", &rotated, b"body", 1_700_000_000, TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in [
            "",
            "t=1700000000",
            "v1=00",
            "t=soon,v1=00",
            "t=1700000000,v1=not-hex",
            "t=1,t=2,v1=00",
            "garbage",
        ] {
            assert_eq!(
                verify("secret", header, b"body", 1_700_000_000, TOLERANCE),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
    }
}

//! Opaque page tokens for keyset pagination: the last id of a page, base64url-encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jobs_domain::JobId;
use uuid::Uuid;

/// The token that resumes a listing after `last`.
pub fn encode(last: JobId) -> String {
    URL_SAFE_NO_PAD.encode(last.0.as_bytes())
}

/// The id a token resumes after, if the token is one of ours.
pub fn decode(token: &str) -> Option<JobId> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    Uuid::from_slice(&bytes).ok().map(JobId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let id = JobId::new();
        assert_eq!(decode(&encode(id)), Some(id));
        assert_eq!(decode("not a token"), None);
        assert_eq!(decode("AAAA"), None);
    }
}

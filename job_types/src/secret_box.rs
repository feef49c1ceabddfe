//! Encryption of the secrets job types keep (HMAC signing secrets), so that
//! a database dump does not hold them in clear. XChaCha20-Poly1305: its
//! 192-bit nonces may be drawn at random for every seal without any concern
//! about repeats, and the tag makes a wrong key or a changed byte an error.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use thiserror::Error;

/// Bytes of the nonce that starts every sealed value.
const NONCE_LEN: usize = 24;
/// Bytes of the key.
const KEY_LEN: usize = 32;
/// The prefix of generated secrets, so they are recognisable in a config or a leak scan.
const SECRET_PREFIX: &str = "whsec_";

/// Why a key or a sealed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SecretBoxError {
    /// The key is not 32 bytes in standard base64; fix `JOB_TYPE_SECRETS_KEY`
    /// (e.g. `openssl rand -base64 32`).
    #[error("the key must be 32 bytes in standard base64")]
    InvalidKey,
    /// The value was sealed under another key or has been altered; configure
    /// the key it was sealed with, or generate a new secret.
    #[error("the sealed value does not open with this key (another key, or altered)")]
    Undecryptable,
}

/// Seals and opens secrets with one key. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// The box for a 32-byte key given in standard base64 (surrounding whitespace ignored).
    pub fn from_base64(key: &str) -> Result<Self, SecretBoxError> {
        let key = STANDARD
            .decode(key.trim())
            .map_err(|_| SecretBoxError::InvalidKey)?;
        if key.len() != KEY_LEN {
            return Err(SecretBoxError::InvalidKey);
        }
        let cipher =
            XChaCha20Poly1305::new_from_slice(&key).map_err(|_| SecretBoxError::InvalidKey)?;
        Ok(SecretBox { cipher })
    }

    /// `plaintext` sealed under a fresh random nonce: nonce || ciphertext and tag.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption fails only for inputs beyond the cipher's 256 GiB limit.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_else(|_| unreachable!("a secret is far below the cipher's size limit"));
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// The plaintext of a value [`SecretBox::seal`] made under the same key.
    pub fn open(&self, sealed: &[u8]) -> Result<String, SecretBoxError> {
        let (nonce, ciphertext) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(SecretBoxError::Undecryptable)?;
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretBoxError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| SecretBoxError::Undecryptable)
    }

    /// A new signing secret: 32 random bytes, URL-safe base64, prefixed `whsec_`.
    pub fn generate_secret() -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; KEY_LEN])
    }

    fn sealer(byte: u8) -> SecretBox {
        SecretBox::from_base64(&key(byte)).expect("a valid key")
    }

    #[test]
    fn a_sealed_secret_opens_to_itself() {
        let secret = SecretBox::generate_secret();
        let sealed = sealer(1).seal(&secret);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert_eq!(sealer(1).open(&sealed), Ok(secret));
        assert_eq!(sealer(1).open(&sealer(1).seal("")), Ok(String::new()));
    }

    #[test]
    fn another_key_or_a_changed_byte_does_not_open() {
        let sealed = sealer(1).seal("whsec_abc");
        assert_eq!(sealer(2).open(&sealed), Err(SecretBoxError::Undecryptable));
        for index in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            assert_eq!(
                sealer(1).open(&tampered),
                Err(SecretBoxError::Undecryptable),
                "byte {index}"
            );
        }
        assert_eq!(
            sealer(1).open(&sealed[..NONCE_LEN - 1]),
            Err(SecretBoxError::Undecryptable)
        );
        assert_eq!(
            sealer(1).open(&sealed[..sealed.len() - 1]),
            Err(SecretBoxError::Undecryptable)
        );
    }

    #[test]
    fn two_seals_of_one_secret_differ() {
        let box_ = sealer(1);
        assert_ne!(box_.seal("whsec_abc"), box_.seal("whsec_abc"));
    }

    #[test]
    fn keys_that_are_not_32_bytes_of_base64_are_refused() {
        for bad in [
            String::new(),
            "not base64!".to_owned(),
            STANDARD.encode([0u8; 16]),
            STANDARD.encode([0u8; 33]),
            URL_SAFE_NO_PAD.encode([0xffu8; 32]),
        ] {
            assert_eq!(
                SecretBox::from_base64(&bad).map(|_| ()),
                Err(SecretBoxError::InvalidKey),
                "{bad:?}"
            );
        }
        assert!(SecretBox::from_base64(&format!("{}\n", key(7))).is_ok());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let shown = format!("{:?}", sealer(0xab));
        assert_eq!(shown, "SecretBox(<redacted>)");
    }

    #[test]
    fn generated_secrets_are_prefixed_url_safe_and_distinct() {
        let one = SecretBox::generate_secret();
        let two = SecretBox::generate_secret();
        assert_ne!(one, two);
        let encoded = one.strip_prefix("whsec_").expect("prefixed");
        assert_eq!(URL_SAFE_NO_PAD.decode(encoded).map(|b| b.len()), Ok(32));
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}

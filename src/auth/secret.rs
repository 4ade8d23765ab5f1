//! Client secrets: 256-bit random strings, stored only as HMAC-SHA256 under a server-wide pepper.
//!
//! A slow password hash protects low-entropy passwords; these secrets have 256 bits of entropy, so a fast
//! keyed hash is as strong and keeps the token endpoint cheap (no blocking work on the async threads).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `n` random bytes from the OS generator, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new client id: readable prefix plus 96 random bits (URL-safe, fits objectID rules).
pub fn new_client_id(role: &str) -> String {
    format!("{role}-{}", random_token(12))
}

/// A new client secret: 256 random bits.
pub fn new_client_secret() -> String {
    random_token(32)
}

/// Keyed hash of a secret, hex-encoded, prefixed by the scheme for future migration.
pub fn hash_secret(pepper: &[u8], secret: &str) -> String {
    let mut mac = keyed(pepper);
    mac.update(secret.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256:{hex}")
}

/// Constant-time check of `secret` against a stored hash.
pub fn verify_secret(pepper: &[u8], secret: &str, stored: &str) -> bool {
    let Some(hex) = stored.strip_prefix("hmac-sha256:") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let mut mac = keyed(pepper);
    mac.update(secret.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

fn keyed(pepper: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails.
    match HmacSha256::new_from_slice(pepper) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // new_from_slice only fails for fixed-size-key MACs; HMAC is not one. Fall back to an empty key.
    <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_verify_only_with_the_same_pepper_and_secret() {
        let secret = new_client_secret();
        assert_eq!(secret.len(), 43);
        let h = hash_secret(b"pepper", &secret);
        assert!(verify_secret(b"pepper", &secret, &h));
        assert!(!verify_secret(b"pepper", "wrong", &h));
        assert!(!verify_secret(b"other", &secret, &h));
        assert!(!verify_secret(b"pepper", &secret, "plain"));
    }
}

//! API keys: `sh0_` followed by 32 random bytes (base64url), shown once and stored only as
//! a SHA-256 digest. A key has 256 bits of entropy, so a fast hash is the right tool here
//! (a password hash would only slow every request down without adding safety).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "sh0_";

/// A freshly generated key: the plaintext to hand over once, and what is stored.
pub struct GeneratedKey {
    pub plaintext: String,
    pub hash: String,
    /// The first characters, kept to let people recognise a key in a list.
    pub display_prefix: String,
}

impl GeneratedKey {
    pub fn new() -> Self {
        Self::with_prefix(KEY_PREFIX)
    }

    /// A secret of the same strength for another use (`sh0h_` for deploy hooks), so that
    /// one is never mistaken for an API key.
    pub fn with_prefix(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let plaintext = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
        Self {
            hash: hash_key(&plaintext),
            display_prefix: plaintext[..12].to_string(),
            plaintext,
        }
    }
}

impl Default for GeneratedKey {
    fn default() -> Self {
        Self::new()
    }
}

/// The stored form of a key: lowercase hex SHA-256.
pub fn hash_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_long_and_distinct() {
        let a = GeneratedKey::new();
        let b = GeneratedKey::new();
        assert!(a.plaintext.starts_with("sh0_"));
        assert!(a.plaintext.len() >= 4 + 43);
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(hash_key(&a.plaintext), a.hash);
    }
}

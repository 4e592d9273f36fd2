//! Random tokens (refresh tokens, CSRF tokens, invitation links, backup codes) and the
//! signed access tokens of sessions. Every random token is stored only as a SHA-256 digest:
//! it has at least 60 bits of entropy and is single-use or short-lived, so a fast hash is
//! the right tool (see `api_keys`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// 32 random bytes, base64url: a bearer secret (refresh token, invitation, CSRF token).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A backup code: 12 characters from an unambiguous alphabet (60 bits), shown `xxxx-xxxx-xxxx`.
pub fn backup_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789"; // 31 symbols, no 0/o/1/l/i
    let mut rng = rand::rng();
    let chars: String = (0..12)
        .map(|_| ALPHABET[(rng.next_u32() % ALPHABET.len() as u32) as usize] as char)
        .collect();
    format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..])
}

/// Backup codes are compared without dashes, spaces or case.
pub fn normalize_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// What an access token says: whose session, and the session's CSRF token, so the token
/// echoed in `X-CSRF-Token` is checked against a value the server signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    pub csrf: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("access token: {0}")]
pub struct TokenError(String);

/// The HS256 key that signs access tokens. It lives sealed in the store; a restart keeps
/// sessions, and a master key rotation re-seals it with everything else.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys([redacted])")
    }
}

impl SessionKeys {
    /// 32 fresh random bytes for a new installation.
    pub fn generate_secret() -> Vec<u8> {
        let mut bytes = vec![0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        bytes
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| TokenError(e.to_string()))
    }

    /// Checks signature, algorithm (HS256 only) and expiry, with no leeway.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_verify_only_with_their_key_and_before_expiry() {
        let keys = SessionKeys::from_secret(&SessionKeys::generate_secret());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            sub: "usr_1".into(),
            sid: "ses_1".into(),
            csrf: "c".into(),
            iat: now,
            exp: now + 60,
        };
        let t = keys.sign(&claims).unwrap();
        assert_eq!(keys.verify(&t).unwrap().sid, "ses_1");
        let other = SessionKeys::from_secret(&SessionKeys::generate_secret());
        assert!(other.verify(&t).is_err());
        let old = keys.sign(&AccessClaims { exp: now - 1, ..claims }).unwrap();
        assert!(keys.verify(&old).is_err());
        // `alg: none` is refused.
        let parts: Vec<&str> = t.split('.').collect();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(keys.verify(&none).is_err());
    }

    #[test]
    fn backup_codes_are_distinct_and_normalize() {
        let a = backup_code();
        assert_eq!(a.len(), 14);
        assert_ne!(a, backup_code());
        assert_eq!(
            normalize_backup_code(&a.to_uppercase().replace('-', " ")),
            a.replace('-', "")
        );
    }
}

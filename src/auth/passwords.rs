//! Passwords: Argon2id with the `argon2` crate's defaults (19 MiB, 2 passes, 1 lane), which
//! are OWASP's recommended minimum, stored as PHC strings so parameters can be raised later
//! and old hashes still verify. The crate makes the salt itself.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// At least this many characters (NIST SP 800-63B asks for 8; sh0 asks a little more).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// At most this many bytes: enough for any passphrase, bounded work per attempt.
pub const MAX_PASSWORD_BYTES: usize = 256;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let hash: Result<PasswordHash, _> = hasher().hash_password(password.as_bytes());
    hash.map(|h| h.to_string()).map_err(|e| PasswordError(e.to_string()))
}

/// Whether `password` matches the stored PHC string; an unreadable hash never matches.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a password nobody knows, with the current parameters.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Gzhmoenzp3gtrHLLJdD+pQ$xKOfwsMysy0cXm9dEN7qJPSoVqt1bhzErwhh30pyWHM";

/// Spends the same work as a real verification, for logins naming no account, so that
/// response time does not tell which email addresses exist.
pub fn verify_nothing(password: &str) {
    let _ = verify_password(DUMMY_PHC, password);
}

/// The rules a new password must meet; the message says which one it broke.
pub fn check_policy(password: &str, email: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("the password needs at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("the password may have at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if password.eq_ignore_ascii_case(email) {
        return Err("the password may not be the email address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batter"));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
        assert!(check_policy("short", "a@b.c").is_err());
        assert!(check_policy("ada@example.com", "ada@example.com").is_err());
        assert!(check_policy("a long enough one", "ada@example.com").is_ok());
    }
}

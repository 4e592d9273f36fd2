//! Encryption at rest. Every secret sh0 stores (environment values today; keys, tokens and
//! certificates later) is sealed with AES-256-GCM under one master key, which lives in
//! `<data-dir>/master.key` (mode 0600) or comes from `SH0_MASTER_KEY`. A sealed value is
//! `nonce (12 bytes) || ciphertext+tag`, with a fresh random nonce for every seal.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("master key: {0}")]
    Key(String),
    #[error("could not read or write the master key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("a stored secret could not be decrypted (wrong master key or corrupted data)")]
    Decrypt,
}

const NONCE_LEN: usize = 12;

/// The context an environment value is sealed under: a value copied to another app or key
/// does not open there.
pub fn env_context(app: &crate::domain::AppId, key: &crate::domain::EnvKey) -> String {
    format!("env:{app}:{key}")
}

/// The context a certificate's private key is sealed under: its name and source.
pub fn cert_context(hostname: &str, source: crate::domain::CertSource) -> String {
    format!("cert:{hostname}:{}", source.as_str())
}

/// The AES-256 master key. Its `Debug` hides the bytes.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses a key given as 64 hex digits or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| SecretsError::Key(e.to_string()))?
        } else {
            STANDARD
                .decode(text)
                .map_err(|_| SecretsError::Key("expected 64 hex digits or base64 of 32 bytes".into()))?
        };
        if bytes.len() != 32 {
            return Err(SecretsError::Key(format!("expected 32 bytes, got {}", bytes.len())));
        }
        Ok(Self(
            Aes256Gcm::new_from_slice(&bytes).map_err(|e| SecretsError::Key(e.to_string()))?,
        ))
    }

    /// Loads the key from `SH0_MASTER_KEY` when given, else from `<data_dir>/master.key`,
    /// creating that file (0600) with a fresh random key on first start.
    pub fn load_or_create(data_dir: &Path, from_env: Option<&str>) -> Result<Self, SecretsError> {
        if let Some(text) = from_env {
            return Self::parse(text);
        }
        let path = data_dir.join("master.key");
        let io = |source| SecretsError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                crate::util::write_private_file(&path, hex::encode(bytes).as_bytes()).map_err(io)?;
                Self::parse(&hex::encode(bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Seals `plaintext`, binding it to `context` (e.g. `env:<app>:<key>`) so a sealed value
    /// copied to another row does not decrypt there.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(SecretsError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let key = MasterKey::parse(&"ab".repeat(32)).unwrap();
        let sealed = key.seal(b"hunter2", "env:a:B");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open(&sealed, "env:a:B").unwrap(), b"hunter2");
        assert!(key.open(&sealed, "env:a:C").is_err());
        let other = MasterKey::parse(&"cd".repeat(32)).unwrap();
        assert!(other.open(&sealed, "env:a:B").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load_or_create(dir.path(), None).unwrap();
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load_or_create(dir.path(), None).unwrap();
        assert_eq!(b.open(&a.seal(b"x", "c"), "c").unwrap(), b"x");
    }
}

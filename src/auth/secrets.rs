//! Encryption at rest. Every secret sh0 stores (environment values today; keys, tokens and
//! certificates later) is sealed with AES-256-GCM under one master key, which lives in
//! `<data-dir>/master.key` (mode 0600) or comes from `SH0_MASTER_KEY`. A sealed value is
//! `nonce (12 bytes) || ciphertext+tag`, with a fresh random nonce for every seal.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

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
/// The context a user's TOTP secret is sealed under.
pub fn totp_context(user: &crate::domain::UserId) -> String {
    format!("totp:{user}")
}

pub fn cert_context(hostname: &str, source: crate::domain::CertSource) -> String {
    format!("cert:{hostname}:{}", source.as_str())
}

/// The keys in force: `previous` is set only while a rotation re-seals the stored values,
/// so that every value opens whichever key sealed it.
struct Keys {
    current: Aes256Gcm,
    previous: Option<Aes256Gcm>,
}

/// The AES-256 master key. Clones share it, so a rotation reaches every holder at once.
/// Its `Debug` hides the bytes.
#[derive(Clone)]
pub struct MasterKey {
    keys: Arc<RwLock<Keys>>,
    /// Held (shared) from sealing a value until it is stored, and (exclusive) while a
    /// rotation switches keys: so every value sealed with the old key is in the store
    /// before the re-sealing reads it.
    gate: Arc<RwLock<()>>,
    /// One rotation at a time.
    rotation: Arc<tokio::sync::Mutex<()>>,
    /// The key file, when the key came from one (not from `SH0_MASTER_KEY`).
    file: Option<PathBuf>,
}

/// The file a rotation writes the new key to before anything is re-sealed; renamed over
/// the key file once every value is sealed with it.
pub fn next_key_file(key_file: &Path) -> PathBuf {
    key_file.with_extension("key.next")
}

fn cipher(text: &str) -> Result<Aes256Gcm, SecretsError> {
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
    Aes256Gcm::new_from_slice(&bytes).map_err(|e| SecretsError::Key(e.to_string()))
}

/// 32 fresh random bytes, as hex.
fn fresh_key_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses a key given as 64 hex digits or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        Ok(Self {
            keys: Arc::new(RwLock::new(Keys {
                current: cipher(text)?,
                previous: None,
            })),
            gate: Arc::default(),
            rotation: Arc::default(),
            file: None,
        })
    }

    /// Loads the key from `SH0_MASTER_KEY` when given, else from `<data_dir>/master.key`,
    /// creating that file (0600) with a fresh random key on first start. When a rotation was
    /// interrupted (a `master.key.next` is there), both keys are loaded, the new one current,
    /// and `is_rotating` says the re-sealing must be finished.
    pub fn load_or_create(data_dir: &Path, from_env: Option<&str>) -> Result<Self, SecretsError> {
        if let Some(text) = from_env {
            return Self::parse(text);
        }
        let path = data_dir.join("master.key");
        let io = |path: &Path, source| SecretsError::Io {
            path: path.display().to_string(),
            source,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = fresh_key_text();
                crate::util::write_private_file(&path, text.as_bytes()).map_err(|e| io(&path, e))?;
                text
            }
            Err(e) => return Err(io(&path, e)),
        };
        let key = cipher(&text)?;
        let next = next_key_file(&path);
        let keys = match std::fs::read_to_string(&next) {
            Ok(new) => Keys {
                current: cipher(&new)?,
                previous: Some(key),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Keys {
                current: key,
                previous: None,
            },
            Err(e) => return Err(io(&next, e)),
        };
        Ok(Self {
            keys: Arc::new(RwLock::new(keys)),
            gate: Arc::default(),
            rotation: Arc::default(),
            file: Some(path),
        })
    }

    /// The key file, or `None` when the key comes from `SH0_MASTER_KEY`.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Whether a rotation is under way (two keys in force).
    pub fn is_rotating(&self) -> bool {
        self.read().previous.is_some()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keys> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Held for the whole of a rotation, so that two never interleave.
    pub async fn rotation_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rotation.lock().await
    }

    /// Starts a rotation: writes a fresh key to `master.key.next` (0600) and makes it the
    /// one new values are sealed with, the old one still opening what it sealed. Waits for
    /// values being sealed to be stored first (see `seal_into`).
    pub fn begin_rotation(&self) -> Result<(), SecretsError> {
        let file = self.file.as_deref().ok_or_else(|| {
            SecretsError::Key("the master key comes from SH0_MASTER_KEY: rotate it there and restart".into())
        })?;
        let _no_sealing = self.gate.write().unwrap_or_else(|p| p.into_inner());
        if self.is_rotating() {
            return Err(SecretsError::Key("a rotation is already under way".into()));
        }
        let next = next_key_file(file);
        let text = fresh_key_text();
        crate::util::write_private_file(&next, text.as_bytes()).map_err(|source| SecretsError::Io {
            path: next.display().to_string(),
            source,
        })?;
        let mut keys = self.write();
        let old = std::mem::replace(&mut keys.current, cipher(&text)?);
        keys.previous = Some(old);
        Ok(())
    }

    /// Ends a rotation once every stored value is sealed with the new key: the new key file
    /// replaces the old one (an atomic rename) and the old key is forgotten.
    pub fn finish_rotation(&self) -> Result<(), SecretsError> {
        let Some(file) = self.file.as_deref() else {
            return Ok(());
        };
        let next = next_key_file(file);
        std::fs::rename(&next, file).map_err(|source| SecretsError::Io {
            path: next.display().to_string(),
            source,
        })?;
        self.write().previous = None;
        Ok(())
    }

    /// Seals `plaintext` and hands the sealed value to `store` (the write to the database)
    /// while no rotation can switch keys. Every value that is stored goes through here.
    pub fn seal_into<T>(&self, plaintext: &[u8], context: &str, store: impl FnOnce(Vec<u8>) -> T) -> T {
        let _sealing = self.gate.read().unwrap_or_else(|p| p.into_inner());
        store(self.seal(plaintext, context))
    }

    /// Seals `plaintext`, binding it to `context` (e.g. `env:<app>:<key>`) so a sealed value
    /// copied to another row does not decrypt there.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .read()
            .current
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

    /// Seals `value` for the sealed setting `key` (the key is the context), as the base64
    /// text the settings table holds; `store` writes it (see [`Self::seal_into`]).
    pub fn seal_setting<T>(&self, key: &str, value: &[u8], store: impl FnOnce(String) -> T) -> T {
        self.seal_into(value, key, |sealed| store(STANDARD.encode(sealed)))
    }

    /// Opens the base64 text of the sealed setting `key`.
    pub fn open_setting(&self, key: &str, stored: &str) -> Result<Vec<u8>, SecretsError> {
        let sealed = STANDARD.decode(stored.trim()).map_err(|_| SecretsError::Decrypt)?;
        self.open(&sealed, key)
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, SecretsError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(SecretsError::Decrypt);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let payload = || Payload {
            msg: ct,
            aad: context.as_bytes(),
        };
        let keys = self.read();
        keys.current
            .decrypt(Nonce::from_slice(nonce), payload())
            .or_else(|e| match &keys.previous {
                Some(previous) => previous.decrypt(Nonce::from_slice(nonce), payload()),
                None => Err(e),
            })
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

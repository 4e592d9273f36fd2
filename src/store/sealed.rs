//! Every value in the store that is sealed with the master key, for re-sealing them all in
//! one transaction when the key rotates. The store knows where sealed values live; the
//! caller knows how to open and seal them (the contexts belong to `auth`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rusqlite::params;
use schemars::JsonSchema;
use serde::Serialize;

use super::{Store, StoreError, StoreResult, parse_col};
use crate::domain::{AppId, CertSource, DatabaseId, EnvKey, UserId};

/// Settings whose values are sealed start with this (the ACME account of a directory).
pub const SEALED_SETTING_PREFIX: &str = "acme_account:";
/// Other sealed settings start with this (the key that signs session tokens).
pub const SEALED_PREFIX: &str = "sealed:";

/// Where a sealed value lives.
pub enum SealedRef {
    Env {
        app: AppId,
        key: EnvKey,
    },
    CertKey {
        hostname: String,
        source: CertSource,
    },
    /// A setting whose value is sealed and base64-encoded (the ACME account).
    Setting {
        key: String,
    },
    /// A user's TOTP secret.
    Totp {
        user: UserId,
    },
    /// A managed database's password.
    Database {
        id: DatabaseId,
    },
    /// A backup's data key.
    BackupKey {
        id: crate::domain::BackupId,
    },
    /// A backup destination's secret key.
    DestinationSecret {
        name: String,
    },
}

/// How many values were re-sealed, by kind.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct ResealCounts {
    pub env_vars: u64,
    pub certificate_keys: u64,
    pub settings: u64,
    pub totp_secrets: u64,
    pub database_passwords: u64,
    pub backup_secrets: u64,
}

/// Turns a sealed value into its re-sealed form.
pub type Resealer<'a> = dyn FnMut(&SealedRef, &[u8]) -> Result<Vec<u8>, String> + 'a;

impl Store {
    /// Re-seals every sealed value with `reseal`, in one transaction: all or nothing.
    pub fn reseal_all(&self, reseal: &mut Resealer<'_>) -> StoreResult<ResealCounts> {
        let fail = |what: String| StoreError::Corrupt(format!("re-sealing {what}"));
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut counts = ResealCounts::default();

        let env: Vec<(String, String, Vec<u8>)> = tx
            .prepare("SELECT app_id, key, sealed FROM env_vars")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (app, key, sealed) in env {
            let at = SealedRef::Env {
                app: parse_col(app.clone())?,
                key: parse_col(key.clone())?,
            };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("variable {key} of {app}: {e}")))?;
            tx.execute(
                "UPDATE env_vars SET sealed = ?3 WHERE app_id = ?1 AND key = ?2",
                params![app, key, fresh],
            )?;
            counts.env_vars += 1;
        }

        let certs: Vec<(String, String, Vec<u8>)> = tx
            .prepare("SELECT hostname, source, key_sealed FROM certificates")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (hostname, source, sealed) in certs {
            let at = SealedRef::CertKey {
                hostname: hostname.clone(),
                source: parse_col(source.clone())?,
            };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("the key of certificate {hostname}: {e}")))?;
            tx.execute(
                "UPDATE certificates SET key_sealed = ?3 WHERE hostname = ?1 AND source = ?2",
                params![hostname, source, fresh],
            )?;
            counts.certificate_keys += 1;
        }

        let settings: Vec<(String, String)> = tx
            .prepare(
                "SELECT key, value FROM settings \
                 WHERE substr(key, 1, length(?1)) = ?1 OR substr(key, 1, length(?2)) = ?2",
            )?
            .query_map([SEALED_SETTING_PREFIX, SEALED_PREFIX], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (key, value) in settings {
            let sealed = STANDARD
                .decode(&value)
                .map_err(|e| fail(format!("setting {key}: {e}")))?;
            let at = SealedRef::Setting { key: key.clone() };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("setting {key}: {e}")))?;
            tx.execute(
                "UPDATE settings SET value = ?2 WHERE key = ?1",
                params![key, STANDARD.encode(fresh)],
            )?;
            counts.settings += 1;
        }

        let totp: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT id, totp_sealed FROM users WHERE totp_sealed IS NOT NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (user, sealed) in totp {
            let at = SealedRef::Totp {
                user: parse_col(user.clone())?,
            };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("the TOTP secret of {user}: {e}")))?;
            tx.execute("UPDATE users SET totp_sealed = ?2 WHERE id = ?1", params![user, fresh])?;
            counts.totp_secrets += 1;
        }

        let databases: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT id, sealed_password FROM databases")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, sealed) in databases {
            let at = SealedRef::Database {
                id: parse_col(id.clone())?,
            };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("the password of database {id}: {e}")))?;
            tx.execute(
                "UPDATE databases SET sealed_password = ?2 WHERE id = ?1",
                params![id, fresh],
            )?;
            counts.database_passwords += 1;
        }

        let keys: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT id, sealed_key FROM backups")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, sealed) in keys {
            let at = SealedRef::BackupKey {
                id: parse_col(id.clone())?,
            };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("the key of backup {id}: {e}")))?;
            tx.execute("UPDATE backups SET sealed_key = ?2 WHERE id = ?1", params![id, fresh])?;
            counts.backup_secrets += 1;
        }
        let destinations: Vec<(String, Vec<u8>)> = tx
            .prepare("SELECT name, sealed_secret FROM backup_destinations WHERE sealed_secret IS NOT NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (name, sealed) in destinations {
            let at = SealedRef::DestinationSecret { name: name.clone() };
            let fresh = reseal(&at, &sealed).map_err(|e| fail(format!("the secret of destination {name}: {e}")))?;
            tx.execute(
                "UPDATE backup_destinations SET sealed_secret = ?2 WHERE name = ?1",
                params![name, fresh],
            )?;
            counts.backup_secrets += 1;
        }
        tx.commit()?;
        Ok(counts)
    }
}

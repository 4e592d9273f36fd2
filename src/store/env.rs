//! Environment variables of apps. Values arrive here already sealed (see `auth::secrets`):
//! the store never sees a plaintext secret.

use crate::domain::Timestamp;
use rusqlite::params;

use super::{Store, StoreResult, parse_col};
use crate::domain::{AppId, EnvKey, now_rfc3339};

/// One stored variable: its name, its sealed value and when it last changed.
pub struct SealedVar {
    pub key: EnvKey,
    pub sealed: Vec<u8>,
    pub updated_at: Timestamp,
}

impl Store {
    /// Sets a variable; returns whether it was newly created (false: replaced).
    pub fn env_set(&self, app: &AppId, key: &EnvKey, sealed: &[u8]) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existed: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM env_vars WHERE app_id = ?1 AND key = ?2)",
            params![app.as_str(), key.as_str()],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO env_vars (app_id, key, sealed, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (app_id, key) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
            params![app.as_str(), key.as_str(), sealed, now_rfc3339()],
        )?;
        tx.commit()?;
        Ok(!existed)
    }

    /// Removes a variable; returns whether it existed.
    pub fn env_unset(&self, app: &AppId, key: &EnvKey) -> StoreResult<bool> {
        let n = self.conn().execute(
            "DELETE FROM env_vars WHERE app_id = ?1 AND key = ?2",
            params![app.as_str(), key.as_str()],
        )?;
        Ok(n > 0)
    }

    pub fn env_list(&self, app: &AppId) -> StoreResult<Vec<SealedVar>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, sealed, updated_at FROM env_vars WHERE app_id = ?1 ORDER BY key")?;
        let rows = stmt
            .query_map([app.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Timestamp>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(k, sealed, updated_at)| {
                Ok(SealedVar {
                    key: parse_col(k)?,
                    sealed,
                    updated_at,
                })
            })
            .collect()
    }
}

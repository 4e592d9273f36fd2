//! Server-wide settings: small values by key (the 2FA policy, the assistant's model, the
//! base images of generated Dockerfiles), changed by tools at run time.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, StoreResult};

impl Store {
    pub fn setting_get(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn setting_delete(&self, key: &str) -> StoreResult<()> {
        self.conn().execute("DELETE FROM settings WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Reads a setting and writes (or deletes, on `None`) what `change` makes of it, with no
    /// other store call in between: two concurrent changes of one setting cannot lose one.
    pub fn setting_update<E: From<StoreError>>(
        &self,
        key: &str,
        change: impl FnOnce(Option<String>) -> Result<Option<String>, E>,
    ) -> Result<Option<String>, E> {
        let conn = self.conn();
        let old = conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(StoreError::from)?;
        let new = change(old)?;
        match &new {
            Some(v) => conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, v],
            ),
            None => conn.execute("DELETE FROM settings WHERE key = ?1", [key]),
        }
        .map_err(StoreError::from)?;
        Ok(new)
    }

    pub fn setting_put(&self, key: &str, value: &str) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }
}

//! API keys. Only digests are stored; see `auth::api_keys`.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreResult, parse_col};
use crate::domain::{KeyId, Role, Scope, now_rfc3339};

/// A key as stored: never its plaintext.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: KeyId,
    pub name: String,
    pub prefix: String,
    pub scope: Scope,
    pub role: Role,
    pub revoked: bool,
}

impl Store {
    pub fn key_insert(&self, name: &str, prefix: &str, hash: &str, scope: Scope, role: Role) -> StoreResult<KeyId> {
        let id = KeyId::generate();
        self.conn().execute(
            "INSERT INTO api_keys (id, name, prefix, hash, scope, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id.as_str(), name, prefix, hash, scope.as_str(), role.as_str(), now_rfc3339()],
        )?;
        Ok(id)
    }

    /// Looks a key up by digest and records its use.
    pub fn key_by_hash(&self, hash: &str) -> StoreResult<Option<StoredKey>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, name, prefix, scope, role, revoked_at IS NOT NULL FROM api_keys WHERE hash = ?1",
                [hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, name, prefix, scope, role, revoked)) = row else {
            return Ok(None);
        };
        conn.execute(
            "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
            params![id, now_rfc3339()],
        )?;
        Ok(Some(StoredKey {
            id: parse_col(id)?,
            name,
            prefix,
            scope: parse_col(scope)?,
            role: parse_col(role)?,
            revoked,
        }))
    }

    pub fn key_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?)
    }
}

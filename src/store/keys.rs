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
    /// RFC 3339; `None` never expires.
    pub expires_at: Option<String>,
}

/// A key as `key_list` shows it.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: KeyId,
    pub name: String,
    pub prefix: String,
    pub scope: Scope,
    pub role: Role,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What a new key is.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub scope: Scope,
    pub role: Role,
    pub expires_at: Option<&'a str>,
}

impl Store {
    pub fn key_insert(&self, k: &NewKey<'_>) -> StoreResult<KeyId> {
        let id = KeyId::generate();
        self.conn().execute(
            "INSERT INTO api_keys (id, name, prefix, hash, scope, role, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id.as_str(),
                k.name,
                k.prefix,
                k.hash,
                k.scope.as_str(),
                k.role.as_str(),
                now_rfc3339(),
                k.expires_at
            ],
        )?;
        Ok(id)
    }

    /// Every key, newest first.
    pub fn key_list(&self) -> StoreResult<Vec<KeyRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, prefix, scope, role, created_at, last_used_at, expires_at, revoked_at \
             FROM api_keys ORDER BY created_at DESC, id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        })?;
        rows.map(|row| {
            let (id, name, prefix, scope, role, created_at, last_used_at, expires_at, revoked_at) = row?;
            Ok(KeyRow {
                id: parse_col(id)?,
                name,
                prefix,
                scope: parse_col(scope)?,
                role: parse_col(role)?,
                created_at,
                last_used_at,
                expires_at,
                revoked_at,
            })
        })
        .collect()
    }

    /// Revokes a key; false when there is no such key or it was revoked already.
    pub fn key_revoke(&self, id: &KeyId) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id.as_str(), now_rfc3339()],
        )? > 0)
    }

    /// Looks a key up by digest and records its use.
    pub fn key_by_hash(&self, hash: &str) -> StoreResult<Option<StoredKey>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, name, prefix, scope, role, revoked_at IS NOT NULL, expires_at FROM api_keys WHERE hash = ?1",
                [hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, name, prefix, scope, role, revoked, expires_at)) = row else {
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
            expires_at,
        }))
    }

    pub fn key_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?)
    }
}

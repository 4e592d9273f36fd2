//! API keys. Only digests are stored; see `auth::api_keys`.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreResult, parse_col};
use crate::domain::{KeyId, ProjectId, Role, Scope, UserId, now_rfc3339};

/// A key as stored: never its plaintext.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub id: KeyId,
    pub name: String,
    pub prefix: String,
    pub scope: Scope,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The user the key acts for; `None` for the bootstrap owner key.
    pub user_id: Option<UserId>,
    /// The one project the key may touch, if limited.
    pub project_id: Option<ProjectId>,
}

impl KeyRow {
    /// Whether the key had expired at `now`.
    pub fn expired_at(&self, now: time::OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at.at() <= now)
    }
}

const COLUMNS: &str =
    "id, name, prefix, scope, role, created_at, last_used_at, expires_at, revoked_at, user_id, project_id";

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<KeyRow>> {
    let (id, scope, role): (String, String, String) = (r.get(0)?, r.get(3)?, r.get(4)?);
    let (name, prefix, created_at) = (r.get(1)?, r.get(2)?, r.get(5)?);
    let (last_used_at, expires_at, revoked_at) = (r.get(6)?, r.get(7)?, r.get(8)?);
    let (user_id, project_id): (Option<String>, Option<String>) = (r.get(9)?, r.get(10)?);
    let build = || -> StoreResult<KeyRow> {
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
            user_id: user_id.map(parse_col).transpose()?,
            project_id: project_id.map(parse_col).transpose()?,
        })
    };
    Ok(build())
}

/// What a new key is.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a str,
    pub scope: Scope,
    pub role: Role,
    pub expires_at: Option<Timestamp>,
    pub user_id: Option<&'a UserId>,
    pub project_id: Option<&'a ProjectId>,
}

impl Store {
    pub fn key_insert(&self, k: &NewKey<'_>) -> StoreResult<KeyId> {
        let id = KeyId::generate();
        self.conn().execute(
            "INSERT INTO api_keys (id, name, prefix, hash, scope, role, created_at, expires_at, user_id, project_id) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id.as_str(),
                k.name,
                k.prefix,
                k.hash,
                k.scope.as_str(),
                k.role.as_str(),
                now_rfc3339(),
                k.expires_at,
                k.user_id.map(UserId::as_str),
                k.project_id.map(ProjectId::as_str)
            ],
        )?;
        Ok(id)
    }

    /// Every key, newest first.
    pub fn key_list(&self) -> StoreResult<Vec<KeyRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map([], read_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn key_get(&self, id: &KeyId) -> StoreResult<Option<KeyRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                [id.as_str()],
                read_row,
            )
            .optional()?
            .transpose()
    }

    /// Revokes a key; false when there is no such key or it was revoked already.
    pub fn key_revoke(&self, id: &KeyId) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id.as_str(), now_rfc3339()],
        )? > 0)
    }

    /// Looks a key up by digest and records its use.
    pub fn key_by_hash(&self, hash: &str) -> StoreResult<Option<KeyRow>> {
        let conn = self.conn();
        let key = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE hash = ?1"),
                [hash],
                read_row,
            )
            .optional()?
            .transpose()?;
        if let Some(k) = &key {
            conn.execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                params![k.id.as_str(), now_rfc3339()],
            )?;
        }
        Ok(key)
    }

    pub fn key_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?)
    }
}

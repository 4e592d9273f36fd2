//! Sessions: one row per login, holding the digest of the current refresh token and of
//! the one before it. A refresh swaps them; presenting the previous token again means it
//! was copied, and the session is revoked (refresh token reuse detection).

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreResult, parse_col};
use crate::domain::{SessionId, UserId, now_rfc3339};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: String,
    pub address: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl SessionRow {
    pub fn active_at(&self, now: time::OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.at() > now
    }
}

const COLUMNS: &str = "id, user_id, user_agent, address, created_at, last_seen_at, expires_at, revoked_at";

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<SessionRow>> {
    let (id, user_id): (String, String) = (r.get(0)?, r.get(1)?);
    let (user_agent, address, created_at, last_seen_at, expires_at, revoked_at) =
        (r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?);
    let build = || -> StoreResult<SessionRow> {
        Ok(SessionRow {
            id: parse_col(id)?,
            user_id: parse_col(user_id)?,
            user_agent,
            address,
            created_at,
            last_seen_at,
            expires_at,
            revoked_at,
        })
    };
    Ok(build())
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Refreshed {
    /// The token was current: it is replaced by the new one.
    Rotated(SessionRow),
    /// The token was the previous one: someone else holds a copy. The session is revoked.
    Reused,
    /// Unknown, revoked or expired.
    Invalid,
}

impl Store {
    pub fn session_insert(
        &self,
        user: &UserId,
        refresh_hash: &str,
        user_agent: &str,
        address: &str,
        expires_at: &str,
    ) -> StoreResult<SessionId> {
        let id = SessionId::generate();
        let now = now_rfc3339();
        self.conn().execute(
            "INSERT INTO sessions (id, user_id, refresh_hash, user_agent, address, created_at, last_seen_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
            params![id.as_str(), user.as_str(), refresh_hash, user_agent, address, now, expires_at],
        )?;
        Ok(id)
    }

    pub fn session_get(&self, id: &SessionId) -> StoreResult<Option<SessionRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"),
                [id.as_str()],
                read_row,
            )
            .optional()?
            .transpose()
    }

    /// A user's sessions that are neither revoked nor expired, newest first.
    pub fn session_list(&self, user: &UserId) -> StoreResult<Vec<SessionRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2 \
             ORDER BY created_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map(params![user.as_str(), now_rfc3339()], read_row)?;
        rows.map(|r| r?).collect()
    }

    /// Revokes a session; false when it was not active.
    pub fn session_revoke(&self, id: &SessionId) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id.as_str(), now_rfc3339()],
        )? > 0)
    }

    /// Swaps the refresh token of the session holding `presented` for `fresh`, in one
    /// transaction, and extends the session to `expires_at`.
    pub fn session_refresh(&self, presented: &str, fresh: &str, expires_at: &str) -> StoreResult<Refreshed> {
        let now = time::OffsetDateTime::now_utc();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current = tx
            .query_row(
                &format!("SELECT {COLUMNS} FROM sessions WHERE refresh_hash = ?1"),
                [presented],
                read_row,
            )
            .optional()?
            .transpose()?;
        let outcome = match current {
            Some(s) if s.active_at(now) => {
                tx.execute(
                    "UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = ?2, last_seen_at = ?3, \
                     expires_at = ?4 WHERE id = ?1",
                    params![s.id.as_str(), fresh, now_rfc3339(), expires_at],
                )?;
                Refreshed::Rotated(s)
            }
            Some(_) => Refreshed::Invalid,
            None => {
                let reused = tx.execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE previous_hash = ?1 AND revoked_at IS NULL",
                    params![presented, now_rfc3339()],
                )?;
                if reused > 0 {
                    Refreshed::Reused
                } else {
                    Refreshed::Invalid
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }
}

//! One-time invitations: the link's token is stored as a digest, the invitation carries
//! the role and projects the new user gets, and it is spent in the same transaction that
//! creates the user.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{Email, InviteId, ProjectId, Role, UserId, now_rfc3339};

#[derive(Debug, Clone)]
pub struct InviteRow {
    pub id: InviteId,
    pub email: Email,
    pub role: Role,
    pub projects: Vec<ProjectId>,
    pub expires_at: Timestamp,
}

pub struct NewInvite<'a> {
    pub token_hash: &'a str,
    pub email: &'a Email,
    pub role: Role,
    pub projects: &'a [ProjectId],
    pub invited_by: &'a str,
    pub expires_at: Timestamp,
}

impl Store {
    pub fn invite_insert(&self, i: &NewInvite<'_>) -> StoreResult<InviteId> {
        let id = InviteId::generate();
        let projects = serde_json::to_string(&i.projects).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().execute(
            "INSERT INTO invites (id, token_hash, email, role, projects, invited_by, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id.as_str(),
                i.token_hash,
                i.email.as_str(),
                i.role.as_str(),
                projects,
                i.invited_by,
                now_rfc3339(),
                i.expires_at
            ],
        )?;
        Ok(id)
    }

    /// The unused, unexpired invitation with this token digest.
    pub fn invite_find(&self, token_hash: &str) -> StoreResult<Option<InviteRow>> {
        let row: Option<(String, String, String, String, Timestamp)> = self
            .conn()
            .query_row(
                "SELECT id, email, role, projects, expires_at FROM invites \
                 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
                params![token_hash, now_rfc3339()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((id, email, role, projects, expires_at)) = row else {
            return Ok(None);
        };
        let projects: Vec<String> = serde_json::from_str(&projects).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some(InviteRow {
            id: parse_col(id)?,
            email: parse_col(email)?,
            role: parse_col(role)?,
            projects: projects.into_iter().map(parse_col).collect::<StoreResult<_>>()?,
            expires_at,
        }))
    }

    /// Spends the invitation and creates its user, in one transaction: a link works once.
    /// Projects deleted since the invitation are skipped.
    pub fn invite_accept(&self, invite: &InviteRow, name: &str, password_hash: &str) -> StoreResult<UserId> {
        let id = UserId::generate();
        let now = now_rfc3339();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let spent = tx.execute(
            "UPDATE invites SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
            params![invite.id.as_str(), now],
        )?;
        if spent != 1 {
            return Err(StoreError::NotFound("invitation".into()));
        }
        tx.execute(
            "INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.as_str(),
                invite.email.as_str(),
                name,
                password_hash,
                invite.role.as_str(),
                now
            ],
        )
        .map_err(|e| unique_conflict(e, || "this invitation cannot be used".into()))?;
        for p in &invite.projects {
            tx.execute(
                "INSERT INTO memberships (user_id, project_id) SELECT ?1, id FROM projects WHERE id = ?2",
                params![id.as_str(), p.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }
}

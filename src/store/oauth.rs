//! OAuth 2.1 for remote MCP clients: clients, pending authorization requests, one-time
//! codes and grants. Tokens and codes are stored as digests only. A grant holds the digest
//! of its current access token and of its current and previous refresh tokens: a refresh
//! rotates both, and presenting the previous refresh token again (a copy is in someone
//! else's hands) revokes the grant.

use rusqlite::{OptionalExtension, Row, params};
use serde::{Serialize, de::DeserializeOwned};

use super::{Store, StoreError, StoreResult, parse_col};
use crate::domain::{AuthRequestId, GrantId, ProjectId, Scope, Timestamp, UserId, now_rfc3339};

/// A client sh0 knows: registered here (RFC 7591) or described by its metadata document.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `registered` or `metadata_document`.
    pub source: String,
}

/// A grant of one user's access to one client, as stored (never a token).
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub id: GrantId,
    pub user_id: UserId,
    pub client_id: String,
    pub client_name: String,
    pub scope: Scope,
    pub project_id: Option<ProjectId>,
    /// The one resource (the MCP endpoint's URL) its tokens are for (RFC 8707).
    pub resource: String,
    pub access_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

const GRANT_COLUMNS: &str = "id, user_id, client_id, client_name, scope, project_id, resource, access_expires_at, \
                             created_at, last_used_at, revoked_at";

fn read_grant(r: &Row<'_>) -> rusqlite::Result<StoreResult<GrantRow>> {
    let (id, user_id, client_id, client_name, scope): (String, String, String, String, String) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
    let (project_id, resource): (Option<String>, String) = (r.get(5)?, r.get(6)?);
    let (access_expires_at, created_at, last_used_at, revoked_at) = (r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?);
    let build = || -> StoreResult<GrantRow> {
        Ok(GrantRow {
            id: parse_col(id)?,
            user_id: parse_col(user_id)?,
            client_id,
            client_name,
            scope: parse_col(scope)?,
            project_id: project_id.map(parse_col).transpose()?,
            resource,
            access_expires_at,
            created_at,
            last_used_at,
            revoked_at,
        })
    };
    Ok(build())
}

/// What a new grant is, with the digests of its first tokens.
pub struct NewGrant<'a> {
    pub user_id: &'a UserId,
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub scope: Scope,
    pub project_id: Option<&'a ProjectId>,
    pub resource: &'a str,
    pub access_hash: &'a str,
    pub access_expires_at: Timestamp,
    pub refresh_hash: &'a str,
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum GrantRefresh {
    /// Current: rotated to the new digests.
    Rotated(Box<GrantRow>),
    /// The previous one: the grant is now revoked.
    Reused,
    /// Unknown or revoked.
    Invalid,
}

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Stores a client. Registration is open to anyone, so registered clients that never
    /// got a grant are forgotten after a day.
    pub fn oauth_client_put(&self, c: &ClientRow) -> StoreResult<()> {
        let day_ago = crate::domain::Timestamp::after(time::Duration::days(-1));
        self.conn().execute(
            "DELETE FROM oauth_clients WHERE source = 'registered' AND created_at < ?1 \
             AND id NOT IN (SELECT client_id FROM oauth_grants)",
            [day_ago],
        )?;
        self.conn().execute(
            "INSERT INTO oauth_clients (id, name, redirect_uris, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO UPDATE SET name = ?2, redirect_uris = ?3",
            params![c.id, c.name, to_json(&c.redirect_uris)?, c.source, now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn oauth_client_get(&self, id: &str) -> StoreResult<Option<ClientRow>> {
        let row: Option<(String, String, String, String)> = self
            .conn()
            .query_row(
                "SELECT id, name, redirect_uris, source FROM oauth_clients WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        row.map(|(id, name, uris, source)| {
            Ok(ClientRow {
                id,
                name,
                redirect_uris: from_json(&uris)?,
                source,
            })
        })
        .transpose()
    }

    /// Keeps an authorization request (as JSON) until its user answers or it expires.
    pub fn oauth_request_put<T: Serialize>(&self, id: &AuthRequestId, body: &T, expires_at: &str) -> StoreResult<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM oauth_requests WHERE expires_at < ?1", [now_rfc3339()])?;
        conn.execute(
            "INSERT INTO oauth_requests (id, body, expires_at) VALUES (?1, ?2, ?3)",
            params![id.as_str(), to_json(body)?, expires_at],
        )?;
        Ok(())
    }

    /// Takes a live request out: each is answered once.
    pub fn oauth_request_take<T: DeserializeOwned>(&self, id: &AuthRequestId) -> StoreResult<Option<T>> {
        let conn = self.conn();
        let body: Option<String> = conn
            .query_row(
                "DELETE FROM oauth_requests WHERE id = ?1 AND expires_at > ?2 RETURNING body",
                params![id.as_str(), now_rfc3339()],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| from_json(&b)).transpose()
    }

    pub fn oauth_request_get<T: DeserializeOwned>(&self, id: &AuthRequestId) -> StoreResult<Option<T>> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM oauth_requests WHERE id = ?1 AND expires_at > ?2",
                params![id.as_str(), now_rfc3339()],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| from_json(&b)).transpose()
    }

    pub fn oauth_code_put<T: Serialize>(&self, code_hash: &str, body: &T, expires_at: &str) -> StoreResult<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM oauth_codes WHERE expires_at < ?1", [now_rfc3339()])?;
        conn.execute(
            "INSERT INTO oauth_codes (code_hash, body, expires_at) VALUES (?1, ?2, ?3)",
            params![code_hash, to_json(body)?, expires_at],
        )?;
        Ok(())
    }

    /// A code by digest: its body, whether it is still live, and the grant it was already
    /// exchanged for (a second use).
    pub fn oauth_code_get<T: DeserializeOwned>(
        &self,
        code_hash: &str,
    ) -> StoreResult<Option<(T, bool, Option<GrantId>)>> {
        let row: Option<(String, String, Option<String>)> = self
            .conn()
            .query_row(
                "SELECT body, expires_at, grant_id FROM oauth_codes WHERE code_hash = ?1",
                [code_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(body, expires, grant)| {
            let live = expires > now_rfc3339();
            Ok((from_json(&body)?, live, grant.map(parse_col).transpose()?))
        })
        .transpose()
    }

    /// Creates the grant of a code, marking the code used — once: a second call for the
    /// same code creates nothing and answers `None`.
    pub fn oauth_code_exchange(&self, code_hash: &str, g: &NewGrant<'_>) -> StoreResult<Option<GrantId>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = GrantId::generate();
        let marked = tx.execute(
            "UPDATE oauth_codes SET grant_id = ?2 WHERE code_hash = ?1 AND grant_id IS NULL",
            params![code_hash, id.as_str()],
        )?;
        if marked == 0 {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO oauth_grants (id, user_id, client_id, client_name, scope, project_id, resource, access_hash, \
             access_expires_at, refresh_hash, created_at, last_used_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            params![
                id.as_str(),
                g.user_id.as_str(),
                g.client_id,
                g.client_name,
                g.scope.as_str(),
                g.project_id.map(ProjectId::as_str),
                g.resource,
                g.access_hash,
                g.access_expires_at,
                g.refresh_hash,
                now_rfc3339()
            ],
        )?;
        tx.commit()?;
        Ok(Some(id))
    }

    /// The live grant an access token belongs to, recording its use.
    pub fn oauth_grant_by_access(&self, access_hash: &str) -> StoreResult<Option<GrantRow>> {
        let conn = self.conn();
        let grant = conn
            .query_row(
                &format!(
                    "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE access_hash = ?1 AND revoked_at IS NULL \
                     AND access_expires_at > ?2"
                ),
                params![access_hash, now_rfc3339()],
                read_grant,
            )
            .optional()?
            .transpose()?;
        if let Some(g) = &grant {
            conn.execute(
                "UPDATE oauth_grants SET last_used_at = ?2 WHERE id = ?1",
                params![g.id.as_str(), now_rfc3339()],
            )?;
        }
        Ok(grant)
    }

    /// The live grant whose current refresh token this is (nothing is changed).
    pub fn oauth_grant_by_refresh(&self, refresh_hash: &str) -> StoreResult<Option<GrantRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE refresh_hash = ?1 AND revoked_at IS NULL"),
                [refresh_hash],
                read_grant,
            )
            .optional()?
            .transpose()
    }

    /// Rotates a grant's tokens for a refresh token (see [`GrantRefresh`]).
    pub fn oauth_grant_refresh(
        &self,
        refresh_hash: &str,
        new_access_hash: &str,
        access_expires_at: Timestamp,
        new_refresh_hash: &str,
    ) -> StoreResult<GrantRefresh> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let reused: Option<String> = tx
            .query_row(
                "SELECT id FROM oauth_grants WHERE previous_refresh_hash = ?1 AND revoked_at IS NULL",
                [refresh_hash],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = reused {
            tx.execute(
                "UPDATE oauth_grants SET revoked_at = ?2, access_hash = NULL, refresh_hash = NULL WHERE id = ?1",
                params![id, now_rfc3339()],
            )?;
            tx.commit()?;
            return Ok(GrantRefresh::Reused);
        }
        let updated = tx.execute(
            "UPDATE oauth_grants SET previous_refresh_hash = refresh_hash, refresh_hash = ?2, access_hash = ?3, \
             access_expires_at = ?4, last_used_at = ?5 WHERE refresh_hash = ?1 AND revoked_at IS NULL",
            params![
                refresh_hash,
                new_refresh_hash,
                new_access_hash,
                access_expires_at,
                now_rfc3339()
            ],
        )?;
        if updated == 0 {
            return Ok(GrantRefresh::Invalid);
        }
        let grant = tx
            .query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE refresh_hash = ?1"),
                [new_refresh_hash],
                read_grant,
            )?
            .map(|g| GrantRefresh::Rotated(Box::new(g)));
        tx.commit()?;
        grant
    }

    /// A user's grants, newest first (revoked ones too, marked).
    pub fn oauth_grant_list(&self, user: &UserId) -> StoreResult<Vec<GrantRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE user_id = ?1 ORDER BY created_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map([user.as_str()], read_grant)?;
        rows.map(|r| r?).collect()
    }

    pub fn oauth_grant_get(&self, id: &GrantId) -> StoreResult<Option<GrantRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = ?1"),
                [id.as_str()],
                read_grant,
            )
            .optional()?
            .transpose()
    }

    /// Revokes a grant: its tokens stop working at once. False when it was revoked already.
    pub fn oauth_grant_revoke(&self, id: &GrantId) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE oauth_grants SET revoked_at = ?2, access_hash = NULL, refresh_hash = NULL \
             WHERE id = ?1 AND revoked_at IS NULL",
            params![id.as_str(), now_rfc3339()],
        )? > 0)
    }
}

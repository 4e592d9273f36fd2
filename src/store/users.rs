//! Users, their project memberships and their backup codes. Password hashes and sealed
//! TOTP secrets are read only by the functions that need them, never listed.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{Email, ProjectId, Role, UserId, now_rfc3339};

/// A user as listed: no password hash, no TOTP secret.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub totp_enabled: bool,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// What a login needs besides the row.
#[derive(Clone)]
pub struct UserSecrets {
    pub password_hash: String,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: Option<u64>,
}

const COLUMNS: &str = "id, email, name, role, totp_enabled, created_at, last_login_at";

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<UserRow>> {
    let (id, email, name, role): (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let (totp_enabled, created_at, last_login_at): (bool, Timestamp, Option<Timestamp>) =
        (r.get(4)?, r.get(5)?, r.get(6)?);
    let build = || -> StoreResult<UserRow> {
        Ok(UserRow {
            id: parse_col(id)?,
            email: parse_col(email)?,
            name,
            role: parse_col(role)?,
            totp_enabled,
            created_at,
            last_login_at,
        })
    };
    Ok(build())
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub projects: &'a [ProjectId],
}

impl Store {
    /// Creates a user with its memberships, in one transaction.
    pub fn user_insert(&self, u: &NewUser<'_>) -> StoreResult<UserId> {
        let id = UserId::generate();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO users (id, email, name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.as_str(),
                u.email.as_str(),
                u.name,
                u.password_hash,
                u.role.as_str(),
                now_rfc3339()
            ],
        )
        .map_err(|e| unique_conflict(e, || format!("a user with email {} exists already", u.email)))?;
        for p in u.projects {
            tx.execute(
                "INSERT INTO memberships (user_id, project_id) VALUES (?1, ?2)",
                params![id.as_str(), p.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    pub fn user_count(&self) -> StoreResult<i64> {
        Ok(self.conn().query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    pub fn owner_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM users WHERE role = 'owner'", [], |r| r.get(0))?)
    }

    pub fn user_list(&self) -> StoreResult<Vec<UserRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY email"))?;
        let rows = stmt.query_map([], read_row)?;
        rows.map(|r| r?).collect()
    }

    pub fn user_get(&self, id: &UserId) -> StoreResult<Option<UserRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                [id.as_str()],
                read_row,
            )
            .optional()?
            .transpose()
    }

    pub fn user_by_email(&self, email: &Email) -> StoreResult<Option<UserRow>> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
                [email.as_str()],
                read_row,
            )
            .optional()?
            .transpose()
    }

    pub fn user_secrets(&self, id: &UserId) -> StoreResult<UserSecrets> {
        self.conn()
            .query_row(
                "SELECT password_hash, totp_sealed, totp_last_step FROM users WHERE id = ?1",
                [id.as_str()],
                |r| {
                    Ok(UserSecrets {
                        password_hash: r.get(0)?,
                        totp_sealed: r.get(1)?,
                        totp_last_step: r.get::<_, Option<i64>>(2)?.map(|s| s as u64),
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))
    }

    /// The projects a user is a member of.
    pub fn user_projects(&self, id: &UserId) -> StoreResult<Vec<ProjectId>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT project_id FROM memberships WHERE user_id = ?1 ORDER BY project_id")?;
        let rows = stmt.query_map([id.as_str()], |r| r.get::<_, String>(0))?;
        rows.map(|r| parse_col(r?)).collect()
    }

    /// Sets a user's role and, when given, replaces their memberships; refuses to leave the
    /// server without an owner.
    pub fn user_set_role(&self, id: &UserId, role: Role, projects: Option<&[ProjectId]>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET role = ?2 WHERE id = ?1",
            params![id.as_str(), role.as_str()],
        )?;
        let owners: i64 = tx.query_row("SELECT COUNT(*) FROM users WHERE role = 'owner'", [], |r| r.get(0))?;
        if owners == 0 {
            return Err(StoreError::Conflict("the server must keep at least one owner".into()));
        }
        if let Some(projects) = projects {
            tx.execute("DELETE FROM memberships WHERE user_id = ?1", [id.as_str()])?;
            for p in projects {
                tx.execute(
                    "INSERT INTO memberships (user_id, project_id) VALUES (?1, ?2)",
                    params![id.as_str(), p.as_str()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn membership_add(&self, user: &UserId, project: &ProjectId) -> StoreResult<()> {
        self.conn().execute(
            "INSERT OR IGNORE INTO memberships (user_id, project_id) VALUES (?1, ?2)",
            params![user.as_str(), project.as_str()],
        )?;
        Ok(())
    }

    /// Deletes a user; their sessions, memberships, backup codes and API keys go with them.
    /// Refuses to delete the last owner.
    pub fn user_delete(&self, id: &UserId) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM users WHERE id = ?1", [id.as_str()])?;
        let owners: i64 = tx.query_row("SELECT COUNT(*) FROM users WHERE role = 'owner'", [], |r| r.get(0))?;
        if owners == 0 {
            return Err(StoreError::Conflict("the server must keep at least one owner".into()));
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a password hash and ends every session of the user.
    pub fn user_set_password(&self, id: &UserId, password_hash: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![id.as_str(), password_hash],
        )?;
        tx.execute(
            "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
            params![id.as_str(), now_rfc3339()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn user_touch_login(&self, id: &UserId) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
            params![id.as_str(), now_rfc3339()],
        )?;
        Ok(())
    }

    /// Stores a TOTP secret awaiting confirmation (2FA stays off until then).
    pub fn totp_set_pending(&self, id: &UserId, sealed: &[u8]) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE users SET totp_sealed = ?2, totp_enabled = 0, totp_last_step = NULL WHERE id = ?1",
            params![id.as_str(), sealed],
        )?;
        Ok(())
    }

    /// Turns 2FA on with the step of the confirming code and the hashes of fresh backup codes.
    pub fn totp_enable(&self, id: &UserId, step: u64, backup_hashes: &[String]) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET totp_enabled = 1, totp_last_step = ?2 WHERE id = ?1",
            params![id.as_str(), step as i64],
        )?;
        tx.execute("DELETE FROM backup_codes WHERE user_id = ?1", [id.as_str()])?;
        for h in backup_hashes {
            tx.execute(
                "INSERT INTO backup_codes (user_id, hash) VALUES (?1, ?2)",
                params![id.as_str(), h],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn totp_disable(&self, id: &UserId) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET totp_sealed = NULL, totp_enabled = 0, totp_last_step = NULL WHERE id = ?1",
            [id.as_str()],
        )?;
        tx.execute("DELETE FROM backup_codes WHERE user_id = ?1", [id.as_str()])?;
        tx.commit()?;
        Ok(())
    }

    /// Records an accepted TOTP step, only if it is newer than the last one: two requests
    /// racing with the same code cannot both win.
    pub fn totp_use_step(&self, id: &UserId, step: u64) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            params![id.as_str(), step as i64],
        )? == 1)
    }

    /// Spends a backup code (by digest); false when it is unknown or used.
    pub fn backup_code_use(&self, id: &UserId, hash: &str) -> StoreResult<bool> {
        Ok(self.conn().execute(
            "UPDATE backup_codes SET used_at = ?3 WHERE user_id = ?1 AND hash = ?2 AND used_at IS NULL",
            params![id.as_str(), hash, now_rfc3339()],
        )? == 1)
    }

    pub fn backup_codes_left(&self, id: &UserId) -> StoreResult<i64> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM backup_codes WHERE user_id = ?1 AND used_at IS NULL",
            [id.as_str()],
            |r| r.get(0),
        )?)
    }
}

//! Deploy hooks: a secret URL that deploys one app, for CI systems and forges. Only the
//! secret's SHA-256 digest is stored (it has 256 bits of entropy, like an API key).

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::Serialize;

use super::{Store, StoreResult, parse_col, unique_conflict};
use crate::domain::{AppId, HookId, ResourceName, Role, UserId, now_rfc3339};

const COLUMNS: &str = "id, name, app_id, created_by, role, created_at, last_used_at";

/// A hook as stored and shown (never its secret).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HookRow {
    pub id: HookId,
    pub name: ResourceName,
    pub app_id: AppId,
    /// The user who made it: the hook acts with at most their current role.
    pub created_by: UserId,
    /// The role of the credential that made it, at most `developer`: its calls never exceed it.
    pub role: Role,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<HookRow>> {
    let build = || -> StoreResult<HookRow> {
        Ok(HookRow {
            id: parse_col(r.get(0)?)?,
            name: parse_col(r.get(1)?)?,
            app_id: parse_col(r.get(2)?)?,
            created_by: parse_col(r.get(3)?)?,
            role: parse_col(r.get(4)?)?,
            created_at: r.get(5)?,
            last_used_at: r.get(6)?,
        })
    };
    Ok(build())
}

impl Store {
    pub fn hook_insert(&self, hook: &HookRow, secret_digest: &str) -> StoreResult<()> {
        self.conn()
            .execute(
                "INSERT INTO hooks (id, name, app_id, created_by, role, secret_digest, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hook.id.as_str(),
                    hook.name.as_str(),
                    hook.app_id.as_str(),
                    hook.created_by.as_str(),
                    hook.role.as_str(),
                    secret_digest,
                    hook.created_at
                ],
            )
            .map_err(|e| unique_conflict(e, || format!("the app already has a hook named `{}`", hook.name)))?;
        Ok(())
    }

    /// The hook and its secret's digest.
    pub fn hook_get(&self, id: &HookId) -> StoreResult<Option<(HookRow, String)>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {COLUMNS}, secret_digest FROM hooks WHERE id = ?1"),
                [id.as_str()],
                |r| Ok((read_row(r)?, r.get::<_, String>(7)?)),
            )
            .optional()?;
        row.map(|(h, d)| h.map(|h| (h, d))).transpose()
    }

    pub fn hook_list(&self, app: &AppId) -> StoreResult<Vec<HookRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM hooks WHERE app_id = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt
            .query_map([app.as_str()], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Deletes hook `hook` of `app`; whether there was one.
    pub fn hook_delete(&self, app: &AppId, hook: &HookId) -> StoreResult<bool> {
        let n = self.conn().execute(
            "DELETE FROM hooks WHERE app_id = ?1 AND id = ?2",
            params![app.as_str(), hook.as_str()],
        )?;
        Ok(n > 0)
    }

    pub fn hook_used(&self, id: &HookId) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE hooks SET last_used_at = ?2 WHERE id = ?1",
            params![id.as_str(), now_rfc3339()],
        )?;
        Ok(())
    }
}

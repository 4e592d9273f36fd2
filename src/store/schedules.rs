//! Schedules: a tool call with fixed arguments, run on a cron expression as its owner.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{ResourceName, Role, ScheduleId, Scope, UserId, now_rfc3339};

const COLUMNS: &str = "id, name, owner_id, scope, cron, timezone, tool, args, enabled, disabled_reason, \
                       next_run_at, last_run_at, created_at, updated_at, role";

#[derive(Debug, Clone)]
pub struct ScheduleRow {
    pub id: ScheduleId,
    pub name: ResourceName,
    /// The user it runs as (with their role at the time of each run).
    pub owner_id: UserId,
    /// The scope of the credential that created it: its runs never exceed it.
    pub scope: Scope,
    /// The role of the credential that created it (a key may carry less than its user):
    /// its runs never exceed it either.
    pub role: Role,
    pub cron: String,
    pub timezone: String,
    pub tool: String,
    /// The tool's arguments, a JSON object.
    pub args: serde_json::Value,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub next_run_at: Option<Timestamp>,
    pub last_run_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<ScheduleRow>> {
    let build = || -> StoreResult<ScheduleRow> {
        let args: String = r.get(7)?;
        Ok(ScheduleRow {
            id: parse_col(r.get(0)?)?,
            name: parse_col(r.get(1)?)?,
            owner_id: parse_col(r.get(2)?)?,
            scope: parse_col(r.get(3)?)?,
            cron: r.get(4)?,
            timezone: r.get(5)?,
            tool: r.get(6)?,
            args: serde_json::from_str(&args).map_err(|e| StoreError::Corrupt(format!("schedule args: {e}")))?,
            enabled: r.get(8)?,
            disabled_reason: r.get(9)?,
            next_run_at: r.get(10)?,
            last_run_at: r.get(11)?,
            created_at: r.get(12)?,
            updated_at: r.get(13)?,
            role: parse_col(r.get(14)?)?,
        })
    };
    Ok(build())
}

impl Store {
    pub fn schedule_insert(&self, s: &ScheduleRow) -> StoreResult<()> {
        self.conn()
            .execute(
                &format!("INSERT INTO schedules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"),
                params![
                    s.id.as_str(),
                    s.name.as_str(),
                    s.owner_id.as_str(),
                    s.scope.as_str(),
                    s.cron,
                    s.timezone,
                    s.tool,
                    s.args.to_string(),
                    s.enabled,
                    s.disabled_reason,
                    s.next_run_at,
                    s.last_run_at,
                    s.created_at,
                    s.updated_at,
                    s.role.as_str()
                ],
            )
            .map_err(|e| unique_conflict(e, || format!("a schedule named `{}` already exists", s.name)))?;
        Ok(())
    }

    /// Replaces what a user may change: cron, zone, arguments, enabled (and the reason it
    /// is not), and the next run.
    pub fn schedule_update(&self, s: &ScheduleRow) -> StoreResult<()> {
        let n = self.conn().execute(
            "UPDATE schedules SET cron = ?2, timezone = ?3, args = ?4, enabled = ?5, disabled_reason = ?6, \
             next_run_at = ?7, updated_at = ?8 WHERE id = ?1",
            params![
                s.id.as_str(),
                s.cron,
                s.timezone,
                s.args.to_string(),
                s.enabled,
                s.disabled_reason,
                s.next_run_at,
                now_rfc3339()
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("schedule `{}`", s.name)));
        }
        Ok(())
    }

    /// Records a run's start: when it ran and when the next one is due.
    pub fn schedule_ran(&self, id: &ScheduleId, at: &str, next: Option<&str>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE schedules SET last_run_at = ?2, next_run_at = ?3 WHERE id = ?1",
            params![id.as_str(), at, next],
        )?;
        Ok(())
    }

    /// Stops a schedule, saying why.
    pub fn schedule_disable(&self, id: &ScheduleId, reason: &str) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE schedules SET enabled = 0, disabled_reason = ?2, next_run_at = NULL, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), reason, now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn schedule_delete(&self, id: &ScheduleId) -> StoreResult<()> {
        self.conn()
            .execute("DELETE FROM schedules WHERE id = ?1", [id.as_str()])?;
        Ok(())
    }

    /// By id, or by name.
    pub fn schedule_find(&self, id_or_name: &str) -> StoreResult<ScheduleRow> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1 OR name = ?1"),
                [id_or_name],
                read_row,
            )
            .optional()?;
        row.transpose()?.ok_or_else(|| {
            StoreError::NotFound(format!(
                "schedule `{}`",
                id_or_name.chars().take(80).collect::<String>()
            ))
        })
    }

    /// How many schedules a user owns.
    pub fn schedule_count(&self, owner: &UserId) -> StoreResult<usize> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM schedules WHERE owner_id = ?1",
            [owner.as_str()],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub fn schedule_list(&self) -> StoreResult<Vec<ScheduleRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))?;
        let rows = stmt.query_map([], read_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Enabled schedules whose next run is at or before `now` (RFC 3339, UTC).
    pub fn schedules_due(&self, now: &str) -> StoreResult<Vec<ScheduleRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM schedules WHERE enabled = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?1 \
             ORDER BY next_run_at"
        ))?;
        let rows = stmt.query_map([now], read_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }
}

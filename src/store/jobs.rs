//! Jobs of the runner and their logs.

use crate::domain::Timestamp;
use rusqlite::{OptionalExtension, Row, params};
use schemars::JsonSchema;
use serde::Serialize;

use super::{LogLine, Store, StoreResult, parse_col};
use crate::domain::{JobId, JobKind, JobStatus, ProjectId, UserId, now_rfc3339};

/// Jobs kept per target (the newest; older ones are pruned as new ones start).
pub const KEEP_PER_TARGET: u32 = 200;

const COLUMNS: &str =
    "id, kind, target, status, principal, user_id, error, created_at, started_at, finished_at, project_id";

/// A job about to start.
pub struct NewJob<'a> {
    pub kind: JobKind,
    pub target: &'a str,
    /// The project holding the target: its members see the job.
    pub project: Option<&'a ProjectId>,
    pub principal: &'a str,
    pub user: Option<&'a UserId>,
}

/// A job as stored and shown.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JobRow {
    pub id: JobId,
    pub kind: JobKind,
    /// What it works on (a schedule id, an app id, a host name).
    pub target: String,
    /// The project holding the target, when there is one.
    pub project_id: Option<ProjectId>,
    pub status: JobStatus,
    /// Who started it, as the audit log names callers.
    pub principal: String,
    /// The user it acts for, if any.
    #[serde(skip)]
    pub user_id: Option<UserId>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<JobRow>> {
    let build = || -> StoreResult<JobRow> {
        Ok(JobRow {
            id: parse_col(r.get(0)?)?,
            kind: parse_col(r.get(1)?)?,
            target: r.get(2)?,
            project_id: r.get::<_, Option<String>>(10)?.map(parse_col).transpose()?,
            status: parse_col(r.get(3)?)?,
            principal: r.get(4)?,
            user_id: r.get::<_, Option<String>>(5)?.map(parse_col).transpose()?,
            error: r.get(6)?,
            created_at: r.get(7)?,
            started_at: r.get(8)?,
            finished_at: r.get(9)?,
        })
    };
    Ok(build())
}

impl Store {
    /// Records a new running job.
    pub fn job_insert(&self, new: &NewJob<'_>) -> StoreResult<JobRow> {
        let &NewJob {
            kind,
            target,
            project,
            principal,
            user,
        } = new;
        let now = Timestamp::now();
        let row = JobRow {
            id: JobId::generate(),
            kind,
            target: target.to_owned(),
            project_id: project.cloned(),
            status: JobStatus::Running,
            principal: principal.to_owned(),
            user_id: user.cloned(),
            error: None,
            created_at: now,
            started_at: Some(now),
            finished_at: None,
        };
        let conn = self.conn();
        // A target keeps its newest jobs (a schedule running every second would otherwise
        // grow the store without end); their logs go with them. A deployment's job is its
        // build log, kept as long as the deployment is.
        conn.execute(
            "DELETE FROM jobs WHERE target = ?1 AND status NOT IN ('queued', 'running') AND id NOT IN \
             (SELECT id FROM jobs WHERE target = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2) \
             AND id NOT IN (SELECT job_id FROM deployments WHERE job_id IS NOT NULL)",
            params![target, KEEP_PER_TARGET - 1],
        )?;
        conn.execute(
            &format!("INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?7, NULL, ?8)"),
            params![
                row.id.as_str(),
                kind.as_str(),
                target,
                row.status.as_str(),
                principal,
                user.map(UserId::as_str),
                row.created_at,
                project.map(ProjectId::as_str)
            ],
        )?;
        Ok(row)
    }

    /// Ends an active job; a job already ended stays as it was.
    pub fn job_finish(&self, id: &JobId, status: JobStatus, error: Option<&str>) -> StoreResult<()> {
        let active = [JobStatus::Queued, JobStatus::Running]
            .map(|s| format!("'{}'", s.as_str()))
            .join(",");
        self.conn().execute(
            &format!(
                "UPDATE jobs SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1 AND status IN ({active})"
            ),
            params![id.as_str(), status.as_str(), error, now_rfc3339()],
        )?;
        Ok(())
    }

    /// Fails every job left active by a stop of the server; returns them.
    pub fn jobs_fail_interrupted(&self, reason: &str) -> StoreResult<Vec<JobRow>> {
        let active = self.jobs_query("WHERE status IN ('queued', 'running')", params![])?;
        for job in &active {
            self.job_finish(&job.id, JobStatus::Failed, Some(reason))?;
            self.job_log_append(&job.id, &[format!("failed: {reason}")])?;
        }
        Ok(active)
    }

    pub fn job_get(&self, id: &JobId) -> StoreResult<Option<JobRow>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                [id.as_str()],
                read_row,
            )
            .optional()?;
        row.transpose()
    }

    /// The newest jobs, optionally of one target, newest first.
    pub fn job_list(&self, target: Option<&str>, limit: u32) -> StoreResult<Vec<JobRow>> {
        self.jobs_query(
            "WHERE ?1 IS NULL OR target = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
            params![target, limit],
        )
    }

    fn jobs_query(&self, filter: &str, args: impl rusqlite::Params) -> StoreResult<Vec<JobRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM jobs {filter}"))?;
        let rows = stmt.query_map(args, read_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Appends lines to a job's log; returns the next position.
    pub fn job_log_append(&self, id: &JobId, lines: &[String]) -> StoreResult<i64> {
        super::log_append(self, "job_logs", "job_id", id.as_str(), lines)
    }

    /// Log lines from position `from` on (at most `limit`).
    pub fn job_log_read(&self, id: &JobId, from: i64, limit: u32) -> StoreResult<Vec<LogLine>> {
        super::log_read(self, "job_logs", "job_id", id.as_str(), from, limit)
    }
}

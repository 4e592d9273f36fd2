//! Deployments (their logs are the logs of their jobs). The partial unique index `deployments_one_active` makes
//! "one active deployment per app" a database fact: a second insert is a conflict.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col};
use crate::domain::{AppId, Deployment, DeploymentId, DeploymentStatus, JobId, SourceKind, Trigger, now_rfc3339};

const COLUMNS: &str = "id, app_id, status, source, image, triggered_by, error, created_at, updated_at, finished_at, archive, container_id, job_id, git_commit, git_author, git_message";

/// A deployment with the fields only the engine needs.
#[derive(Debug, Clone)]
pub struct DeploymentRow {
    pub deployment: Deployment,
    /// Path of the stored source archive, for archive deployments.
    pub archive: Option<String>,
    pub container_id: Option<String>,
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<DeploymentRow>> {
    let build = || -> StoreResult<DeploymentRow> {
        Ok(DeploymentRow {
            deployment: Deployment {
                id: parse_col(r.get(0)?)?,
                app_id: parse_col(r.get(1)?)?,
                status: parse_col::<DeploymentStatus>(r.get(2)?)?,
                source: parse_col::<SourceKind>(r.get(3)?)?,
                image: r.get(4)?,
                triggered_by: parse_col::<Trigger>(r.get(5)?)?,
                error: r.get(6)?,
                created_at: r.get(7)?,
                updated_at: r.get(8)?,
                finished_at: r.get(9)?,
                job: r.get::<_, Option<String>>(12)?.map(parse_col).transpose()?,
                commit: match r.get::<_, Option<String>>(13)? {
                    Some(sha) => Some(crate::domain::GitCommit {
                        sha: parse_col(sha)?,
                        author: crate::domain::UntrustedText(r.get::<_, Option<String>>(14)?.unwrap_or_default()),
                        message: crate::domain::UntrustedText(r.get::<_, Option<String>>(15)?.unwrap_or_default()),
                    }),
                    None => None,
                },
            },
            archive: r.get(10)?,
            container_id: r.get(11)?,
        })
    };
    Ok(build())
}

/// One stored log line and where the next one starts.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub pos: i64,
    pub line: String,
}

impl Store {
    /// Inserts a queued deployment; `Conflict` names the active one if there is one.
    pub fn deployment_insert(
        &self,
        app: &AppId,
        source: SourceKind,
        image: Option<&str>,
        archive: Option<&str>,
        trigger: Trigger,
        job: &JobId,
    ) -> StoreResult<Deployment> {
        let id = DeploymentId::generate();
        let now = now_rfc3339();
        let res = self.conn().execute(
            "INSERT INTO deployments (id, app_id, status, source, image, archive, triggered_by, created_at, updated_at, job_id) \
             VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
            params![id.as_str(), app.as_str(), source.as_str(), image, archive, trigger.as_str(), now, job.as_str()],
        );
        if let Err(rusqlite::Error::SqliteFailure(f, _)) = &res
            && f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        {
            self.deployment_ensure_idle(app)?;
            return Err(StoreError::Conflict(
                "another deployment is in progress; wait for it to finish or cancel it".into(),
            ));
        }
        res?;
        Ok(self.deployment_get(&id)?.deployment)
    }

    /// Records the commit a git deployment builds.
    pub fn deployment_set_commit(&self, id: &DeploymentId, commit: &crate::domain::GitCommit) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE deployments SET git_commit = ?2, git_author = ?3, git_message = ?4 WHERE id = ?1",
            params![id.as_str(), commit.sha.as_str(), commit.author.0, commit.message.0],
        )?;
        Ok(())
    }

    /// `Conflict`, naming the active deployment, when the app has one. The unique index
    /// is the guarantee; this is the early, readable answer.
    pub fn deployment_ensure_idle(&self, app: &AppId) -> StoreResult<()> {
        match self.deployment_active(app)? {
            Some(d) => Err(StoreError::Conflict(format!(
                "deployment {} is {}; wait for it to finish or cancel it (deployment_cancel)",
                d.id,
                d.status.as_str()
            ))),
            None => Ok(()),
        }
    }

    pub fn deployment_get(&self, id: &DeploymentId) -> StoreResult<DeploymentRow> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"),
                [id.as_str()],
                read_row,
            )
            .optional()?;
        row.ok_or_else(|| StoreError::NotFound(format!("deployment `{id}`")))?
    }

    pub fn deployment_active(&self, app: &AppId) -> StoreResult<Option<Deployment>> {
        let placeholders = DeploymentStatus::ACTIVE.map(|s| format!("'{}'", s.as_str())).join(",");
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM deployments WHERE app_id = ?1 AND status IN ({placeholders})"),
                [app.as_str()],
                read_row,
            )
            .optional()?;
        row.transpose().map(|r| r.map(|r| r.deployment))
    }

    /// Newest first.
    pub fn deployment_list(&self, app: &AppId, limit: u32) -> StoreResult<Vec<DeploymentRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE app_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![app.as_str(), limit], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Every deployment in an active status (for reconciliation at start).
    pub fn deployments_active_all(&self) -> StoreResult<Vec<DeploymentRow>> {
        let placeholders = DeploymentStatus::ACTIVE.map(|s| format!("'{}'", s.as_str())).join(",");
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deployments WHERE status IN ({placeholders})"
        ))?;
        let rows = stmt.query_map([], read_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Moves a deployment to `status`; a final status records `finished_at` and `error`.
    pub fn deployment_set_status(
        &self,
        id: &DeploymentId,
        status: DeploymentStatus,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let now = now_rfc3339();
        let finished = (!status.is_active()).then_some(now.as_str());
        self.conn().execute(
            "UPDATE deployments SET status = ?2, error = COALESCE(?3, error), updated_at = ?4, \
             finished_at = COALESCE(?5, finished_at) WHERE id = ?1",
            params![id.as_str(), status.as_str(), error, now, finished],
        )?;
        Ok(())
    }

    pub fn deployment_set_image(&self, id: &DeploymentId, image: &str) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE deployments SET image = ?2 WHERE id = ?1",
            params![id.as_str(), image],
        )?;
        Ok(())
    }

    pub fn deployment_set_container(&self, id: &DeploymentId, container: Option<&str>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE deployments SET container_id = ?2 WHERE id = ?1",
            params![id.as_str(), container],
        )?;
        Ok(())
    }

    pub fn deployment_set_archive(&self, id: &DeploymentId, archive: Option<&str>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE deployments SET archive = ?2 WHERE id = ?1",
            params![id.as_str(), archive],
        )?;
        Ok(())
    }
}

//! Backup destinations and backups. A destination's secret key and each backup's data key
//! are kept sealed; the store never sees them in plaintext.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::backup::Counts;
use crate::domain::{Backup, BackupId, BackupStatus, DatabaseId, Destination, JobId, now_rfc3339};

/// The context a backup's data key is sealed under.
pub fn backup_key_context(id: &BackupId) -> String {
    format!("backup:{id}")
}

/// The context a destination's secret key is sealed under.
pub fn destination_secret_context(name: &str) -> String {
    format!("backup_destination:{name}")
}

const COLUMNS: &str = "id, database_id, database_name, project_id, engine, version, image, destination, path, \
                       status, reason, size_bytes, counts, job_id, trigger, started_at, finished_at";

fn read_backup(r: &Row<'_>) -> rusqlite::Result<StoreResult<Backup>> {
    let size: Option<i64> = r.get(11)?;
    let counts: Option<String> = r.get(12)?;
    let job: Option<String> = r.get(13)?;
    let build = || -> StoreResult<Backup> {
        Ok(Backup {
            id: parse_col(r.get(0)?)?,
            database_id: parse_col(r.get(1)?)?,
            database_name: parse_col(r.get(2)?)?,
            project_id: parse_col(r.get(3)?)?,
            engine: parse_col(r.get(4)?)?,
            version: r.get(5)?,
            image: r.get(6)?,
            destination: r.get(7)?,
            path: r.get(8)?,
            status: parse_col(r.get(9)?)?,
            reason: r.get(10)?,
            size_bytes: size.map(|s| s as u64),
            counts: counts
                .map(|c| serde_json::from_str::<Counts>(&c).map_err(|e| StoreError::Corrupt(format!("counts: {e}"))))
                .transpose()?,
            job_id: job.map(parse_col::<JobId>).transpose()?,
            trigger: r.get(14)?,
            started_at: r.get(15)?,
            finished_at: r.get(16)?,
        })
    };
    Ok(build())
}

impl Store {
    pub fn destination_insert(&self, d: &Destination, sealed_secret: Option<&[u8]>) -> StoreResult<()> {
        let config = serde_json::to_string(d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn()
            .execute(
                "INSERT INTO backup_destinations (name, kind, config, sealed_secret, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.name.as_str(), d.kind.as_str(), config, sealed_secret, now_rfc3339()],
            )
            .map_err(|e| unique_conflict(e, || format!("a destination named `{}` already exists", d.name)))?;
        Ok(())
    }

    /// A destination and its sealed secret.
    pub fn destination_get(&self, name: &str) -> StoreResult<Option<(Destination, Option<Vec<u8>>)>> {
        let row: Option<(String, Option<Vec<u8>>)> = self
            .conn()
            .query_row(
                "SELECT config, sealed_secret FROM backup_destinations WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(config, sealed)| {
            let d = serde_json::from_str(&config).map_err(|e| StoreError::Corrupt(format!("destination: {e}")))?;
            Ok((d, sealed))
        })
        .transpose()
    }

    pub fn destination_list(&self) -> StoreResult<Vec<Destination>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT config FROM backup_destinations ORDER BY name")?;
        let rows: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|c| serde_json::from_str(&c).map_err(|e| StoreError::Corrupt(format!("destination: {e}"))))
            .collect()
    }

    /// Removes a destination that holds no backup sh0 knows of.
    pub fn destination_delete(&self, name: &str) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let held: i64 = tx.query_row(
            "SELECT COUNT(*) FROM backups WHERE destination = ?1 AND status != 'failed'",
            [name],
            |r| r.get(0),
        )?;
        if held > 0 {
            return Err(StoreError::Conflict(format!(
                "destination `{name}` holds {held} backup(s); delete them first (backup_delete)"
            )));
        }
        let n = tx.execute("DELETE FROM backup_destinations WHERE name = ?1", [name])?;
        tx.commit()?;
        Ok(n > 0)
    }

    pub fn backup_insert(&self, b: &Backup, sealed_key: &[u8]) -> StoreResult<()> {
        self.conn().execute(
            &format!("INSERT INTO backups ({COLUMNS}, sealed_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"),
            params![
                b.id.as_str(),
                b.database_id.as_str(),
                b.database_name.as_str(),
                b.project_id.as_str(),
                b.engine.as_str(),
                b.version,
                b.image,
                b.destination,
                b.path,
                b.status.as_str(),
                b.reason,
                b.size_bytes.map(|s| s as i64),
                b.counts.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default()),
                b.job_id.as_ref().map(|j| j.as_str()),
                b.trigger,
                b.started_at.to_string(),
                b.finished_at.as_ref().map(|t| t.to_string()),
                sealed_key,
            ],
        )?;
        Ok(())
    }

    /// Records how a backup ended (or moved on): its status, reason, size and counts.
    pub fn backup_update(
        &self,
        id: &BackupId,
        status: BackupStatus,
        reason: Option<&str>,
        size_bytes: Option<u64>,
        counts: Option<&Counts>,
    ) -> StoreResult<()> {
        let finished = status.is_final().then(now_rfc3339);
        self.conn().execute(
            "UPDATE backups SET status = ?2, reason = ?3, size_bytes = COALESCE(?4, size_bytes), \
             counts = COALESCE(?5, counts), finished_at = COALESCE(?6, finished_at) WHERE id = ?1",
            params![
                id.as_str(),
                status.as_str(),
                reason,
                size_bytes.map(|s| s as i64),
                counts.map(|c| serde_json::to_string(c).unwrap_or_default()),
                finished
            ],
        )?;
        Ok(())
    }

    pub fn backup_get(&self, id: &BackupId) -> StoreResult<Backup> {
        self.backup_with_key(id).map(|(b, _)| b)
    }

    /// A backup and its sealed data key.
    pub fn backup_with_key(&self, id: &BackupId) -> StoreResult<(Backup, Vec<u8>)> {
        let conn = self.conn();
        let row = conn
            .query_row(
                &format!("SELECT {COLUMNS}, sealed_key FROM backups WHERE id = ?1"),
                [id.as_str()],
                |r| Ok((read_backup(r)?, r.get::<_, Vec<u8>>(17)?)),
            )
            .optional()?;
        let (b, key) = row.ok_or_else(|| StoreError::NotFound(format!("backup `{id}`")))?;
        Ok((b?, key))
    }

    /// Backups, newest first: of one database (by id), or all.
    pub fn backup_list(&self, database: Option<&DatabaseId>, limit: usize) -> StoreResult<Vec<Backup>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM backups WHERE (?1 IS NULL OR database_id = ?1) ORDER BY started_at DESC, id DESC LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![database.map(|d| d.as_str()), limit as i64], read_backup)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    /// Backups a stop interrupted: still `running` or `verifying`.
    pub fn backups_unfinished(&self) -> StoreResult<Vec<Backup>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM backups WHERE status IN ('running', 'verifying')"
        ))?;
        let rows = stmt.query_map([], read_backup)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    pub fn backup_delete(&self, id: &BackupId) -> StoreResult<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM backups WHERE id = ?1", [id.as_str()])?
            > 0)
    }
}

/// A database's backup schedule and what it keeps.
#[derive(Debug, Clone)]
pub struct BackupPolicy {
    pub schedule_id: crate::domain::ScheduleId,
    pub destination: String,
    pub retention: crate::domain::Retention,
}

impl Store {
    pub fn backup_policy_set(&self, database: &DatabaseId, p: &BackupPolicy) -> StoreResult<()> {
        let r = &p.retention;
        self.conn().execute(
            "INSERT INTO backup_policies (database_id, schedule_id, destination, keep_last, keep_daily, keep_weekly, \
             keep_monthly) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (database_id) DO UPDATE SET \
             schedule_id = ?2, destination = ?3, keep_last = ?4, keep_daily = ?5, keep_weekly = ?6, keep_monthly = ?7",
            params![
                database.as_str(),
                p.schedule_id.as_str(),
                p.destination,
                r.keep_last,
                r.keep_daily,
                r.keep_weekly,
                r.keep_monthly
            ],
        )?;
        Ok(())
    }

    pub fn backup_policy_get(&self, database: &DatabaseId) -> StoreResult<Option<BackupPolicy>> {
        let row: Option<(String, String, [Option<u32>; 4])> = self
            .conn()
            .query_row(
                "SELECT schedule_id, destination, keep_last, keep_daily, keep_weekly, keep_monthly \
                 FROM backup_policies WHERE database_id = ?1",
                [database.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?, [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?])),
            )
            .optional()?;
        row.map(|(schedule, destination, k)| {
            Ok(BackupPolicy {
                schedule_id: parse_col(schedule)?,
                destination,
                retention: crate::domain::Retention {
                    keep_last: k[0],
                    keep_daily: k[1],
                    keep_weekly: k[2],
                    keep_monthly: k[3],
                },
            })
        })
        .transpose()
    }
}

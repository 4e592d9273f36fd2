//! Apps table.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{App, AppId, DeploymentId, HealthCheck, ProjectId, ResourceName, ResourceRef, now_rfc3339};

const COLUMNS: &str = "id, name, project_id, port, image, description, created_at, updated_at, health_path, \
                       health_interval_ms, health_timeout_ms, health_retries, memory_mb, cpus, restart_policy, \
                       stopped, current_deployment";

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<App>> {
    let port: Option<i64> = r.get(3)?;
    let port = port
        .map(|p| u16::try_from(p).map_err(|_| StoreError::Corrupt(format!("port {p}"))))
        .transpose();
    let current: Option<String> = r.get(16)?;
    let memory: Option<i64> = r.get(12)?;
    let build = || -> StoreResult<App> {
        Ok(App {
            id: parse_col(r.get(0)?)?,
            name: parse_col(r.get(1)?)?,
            project_id: parse_col(r.get(2)?)?,
            port: port?,
            image: r.get(4)?,
            description: r.get(5)?,
            created_at: r.get(6)?,
            updated_at: r.get(7)?,
            health: HealthCheck {
                path: r.get(8)?,
                interval_ms: r.get(9)?,
                timeout_ms: r.get(10)?,
                retries: r.get(11)?,
            },
            memory_mb: memory.map(|m| m as u32),
            cpus: r.get(13)?,
            restart_policy: parse_col(r.get(14)?)?,
            stopped: r.get(15)?,
            current_deployment: current.map(parse_col::<DeploymentId>).transpose()?,
        })
    };
    Ok(build())
}

/// The fields of an app a caller may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct AppChanges<'a> {
    pub port: Option<u16>,
    pub image: Option<&'a str>,
    pub description: Option<&'a str>,
    pub health: Option<&'a HealthCheck>,
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
    pub restart_policy: Option<&'a str>,
}

impl Store {
    pub fn app_insert(
        &self,
        project: &ProjectId,
        name: &ResourceName,
        port: Option<u16>,
        image: Option<&str>,
        description: &str,
    ) -> StoreResult<App> {
        let id = AppId::generate();
        let now = now_rfc3339();
        self.conn()
            .execute(
                "INSERT INTO apps (id, name, project_id, port, image, description, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    id.as_str(),
                    name.as_str(),
                    project.as_str(),
                    port,
                    image,
                    description,
                    now
                ],
            )
            .map_err(|e| unique_conflict(e, || format!("an app named `{name}` already exists on this server")))?;
        self.app_find(&ResourceRef::App(id))
    }

    pub fn app_list(&self, project: Option<&ProjectId>) -> StoreResult<Vec<App>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM apps WHERE (?1 IS NULL OR project_id = ?1) ORDER BY name"
        ))?;
        let rows = stmt
            .query_map([project.map(|p| p.as_str())], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().collect()
    }

    pub fn app_find(&self, r: &ResourceRef) -> StoreResult<App> {
        let (col, key) = match r {
            ResourceRef::App(id) => ("id", id.to_string()),
            ResourceRef::Name(n) => ("name", n.to_string()),
            ResourceRef::Project(_) => return Err(StoreError::NotFound(format!("app `{r}`"))),
        };
        let row = self
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM apps WHERE {col} = ?1"), [key], read_row)
            .optional()?;
        row.ok_or_else(|| StoreError::NotFound(format!("app `{r}`")))?
    }

    pub fn app_update(&self, id: &AppId, c: &AppChanges<'_>) -> StoreResult<()> {
        let h = c.health;
        let n = self.conn().execute(
            "UPDATE apps SET port = COALESCE(?2, port), image = COALESCE(?3, image), \
             description = COALESCE(?4, description), health_path = COALESCE(?5, health_path), \
             health_interval_ms = COALESCE(?6, health_interval_ms), health_timeout_ms = COALESCE(?7, health_timeout_ms), \
             health_retries = COALESCE(?8, health_retries), memory_mb = COALESCE(?9, memory_mb), \
             cpus = COALESCE(?10, cpus), restart_policy = COALESCE(?11, restart_policy), updated_at = ?12 WHERE id = ?1",
            params![
                id.as_str(),
                c.port,
                c.image,
                c.description,
                h.map(|h| h.path.as_str()),
                h.map(|h| h.interval_ms),
                h.map(|h| h.timeout_ms),
                h.map(|h| h.retries),
                c.memory_mb,
                c.cpus,
                c.restart_policy,
                now_rfc3339()
            ],
        )?;
        if n == 0 {
            Err(StoreError::NotFound(format!("app `{id}`")))
        } else {
            Ok(())
        }
    }

    /// Records which deployment serves the app (or none).
    pub fn app_set_current(&self, id: &AppId, deployment: Option<&DeploymentId>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE apps SET current_deployment = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), deployment.map(|d| d.as_str()), now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn app_set_stopped(&self, id: &AppId, stopped: bool) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE apps SET stopped = ?2, updated_at = ?3 WHERE id = ?1",
            params![id.as_str(), stopped, now_rfc3339()],
        )?;
        Ok(())
    }

    pub fn app_delete(&self, id: &AppId) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if delete_app_rows(&tx, id.as_str())? == 0 {
            return Err(StoreError::NotFound(format!("app `{id}`")));
        }
        tx.commit()?;
        Ok(())
    }

    pub fn app_count(&self) -> StoreResult<i64> {
        Ok(self.conn().query_row("SELECT COUNT(*) FROM apps", [], |r| r.get(0))?)
    }
}

/// Deletes an app and everything that belongs to it inside `tx`: environment, hooks,
/// deployments and their jobs' logs, and its domains (see `domains::delete_domain_rows`). Returns the number
/// of app rows deleted.
pub(super) fn delete_app_rows(tx: &rusqlite::Transaction<'_>, id: &str) -> rusqlite::Result<usize> {
    const STATEMENTS: [&str; 12] = [
        "DELETE FROM env_vars WHERE app_id = ?1",
        "DELETE FROM webhook_seen WHERE app_id = ?1",
        "DELETE FROM git_sources WHERE app_id = ?1",
        "DELETE FROM deploy_keys WHERE app_id = ?1",
        "DELETE FROM git_webhooks WHERE app_id = ?1",
        "DELETE FROM webhook_deliveries WHERE app_id = ?1",
        "DELETE FROM previews WHERE app_id = ?1 OR parent_id = ?1",
        "DELETE FROM settings WHERE key IN ('sealed:git_token:' || ?1, 'sealed:deploy_key:' || ?1, 'sealed:webhook_secret:' || ?1)",
        "DELETE FROM hooks WHERE app_id = ?1",
        "DELETE FROM job_logs WHERE job_id IN (SELECT id FROM jobs WHERE kind = 'deploy' AND target = ?1)",
        "DELETE FROM jobs WHERE kind = 'deploy' AND target = ?1",
        "DELETE FROM deployments WHERE app_id = ?1",
    ];
    for sql in STATEMENTS {
        tx.execute(sql, [id])?;
    }
    let domains: Vec<String> = tx
        .prepare("SELECT hostname FROM domains WHERE app_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for hostname in &domains {
        super::domains::delete_domain_rows(tx, hostname)?;
    }
    tx.execute("DELETE FROM apps WHERE id = ?1", [id])
}

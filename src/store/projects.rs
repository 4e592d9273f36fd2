//! Projects table.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{Project, ProjectId, ResourceName, ResourceRef, Timestamp, now_rfc3339};

const COLUMNS: &str = "id, name, description, created_at, updated_at";

fn row_to_project(r: &Row<'_>) -> rusqlite::Result<(String, String, String, Timestamp, Timestamp)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn build(t: (String, String, String, Timestamp, Timestamp)) -> StoreResult<Project> {
    Ok(Project {
        id: parse_col(t.0)?,
        name: parse_col(t.1)?,
        description: t.2,
        created_at: t.3,
        updated_at: t.4,
    })
}

impl Store {
    pub fn project_insert(&self, name: &ResourceName, description: &str) -> StoreResult<Project> {
        let now = Timestamp::now();
        let p = Project {
            id: ProjectId::generate(),
            name: name.clone(),
            description: description.to_owned(),
            created_at: now,
            updated_at: now,
        };
        self.conn()
            .execute(
                "INSERT INTO projects (id, name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    p.id.as_str(),
                    p.name.as_str(),
                    p.description,
                    p.created_at,
                    p.updated_at
                ],
            )
            .map_err(|e| unique_conflict(e, || format!("a project named `{name}` already exists")))?;
        Ok(p)
    }

    pub fn project_list(&self) -> StoreResult<Vec<Project>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM projects ORDER BY name"))?;
        let rows = stmt.query_map([], row_to_project)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(build).collect()
    }

    /// Finds a project by id or name; `NotFound` names what was asked for.
    pub fn project_find(&self, r: &ResourceRef) -> StoreResult<Project> {
        let (sql, key) = match r {
            ResourceRef::Project(id) => ("id", id.to_string()),
            ResourceRef::Name(n) => ("name", n.to_string()),
            ResourceRef::App(_) => return Err(StoreError::NotFound(format!("project `{r}`"))),
        };
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM projects WHERE {sql} = ?1"),
                [key],
                row_to_project,
            )
            .optional()?;
        row.map(build)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("project `{r}`")))
    }

    pub fn project_update(
        &self,
        id: &ProjectId,
        name: Option<&ResourceName>,
        description: Option<&str>,
    ) -> StoreResult<()> {
        let n = self
            .conn()
            .execute(
                "UPDATE projects SET name = COALESCE(?2, name), description = COALESCE(?3, description), \
                 updated_at = ?4 WHERE id = ?1",
                params![id.as_str(), name.map(|n| n.as_str()), description, now_rfc3339()],
            )
            .map_err(|e| {
                unique_conflict(e, || {
                    format!(
                        "a project named `{}` already exists",
                        name.map(|n| n.as_str()).unwrap_or("")
                    )
                })
            })?;
        if n == 0 {
            Err(StoreError::NotFound(format!("project `{id}`")))
        } else {
            Ok(())
        }
    }

    /// Deletes a project. With `cascade`, its apps (and their environment) go in the same
    /// transaction; without it, a project that still has apps is a conflict and nothing changes.
    pub fn project_delete(&self, id: &ProjectId, cascade: bool) -> StoreResult<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let apps: Vec<(String, String)> = {
            let mut stmt = tx.prepare("SELECT id, name FROM apps WHERE project_id = ?1 ORDER BY name")?;
            stmt.query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let databases: Vec<String> = {
            let mut stmt = tx.prepare("SELECT name FROM databases WHERE project_id = ?1 ORDER BY name")?;
            stmt.query_map([id.as_str()], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        // A cascade never deletes a database: its data is not the project's to throw away.
        if !databases.is_empty() {
            return Err(StoreError::Conflict(format!(
                "the project still has {} database(s) ({}); delete them first with database_delete",
                databases.len(),
                databases.join(", ")
            )));
        }
        let names: Vec<String> = apps.iter().map(|(_, name)| name.clone()).collect();
        if !apps.is_empty() && !cascade {
            return Err(StoreError::Conflict(format!(
                "the project still has {} app(s) ({}); delete them first or pass cascade: true",
                names.len(),
                names.join(", ")
            )));
        }
        for (app, _) in &apps {
            super::apps::delete_app_rows(&tx, app)?;
        }
        let n = tx.execute("DELETE FROM projects WHERE id = ?1", [id.as_str()])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("project `{id}`")));
        }
        tx.commit()?;
        Ok(names)
    }

    pub fn project_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM projects", [], |r| r.get(0))?)
    }
}

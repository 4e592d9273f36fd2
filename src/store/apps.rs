//! Apps table.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{App, AppId, ProjectId, ResourceName, ResourceRef, now_rfc3339};

const COLUMNS: &str = "id, name, project_id, port, image, description, created_at, updated_at";

type AppRow = (
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    String,
    String,
);

fn read_row(r: &Row<'_>) -> rusqlite::Result<AppRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn build(t: AppRow) -> StoreResult<App> {
    let port =
        t.3.map(|p| u16::try_from(p).map_err(|_| StoreError::Corrupt(format!("port {p}"))))
            .transpose()?;
    Ok(App {
        id: parse_col(t.0)?,
        name: parse_col(t.1)?,
        project_id: parse_col(t.2)?,
        port,
        image: t.4,
        description: t.5,
        created_at: t.6,
        updated_at: t.7,
    })
}

/// The fields of an app a caller may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct AppChanges<'a> {
    pub port: Option<u16>,
    pub image: Option<&'a str>,
    pub description: Option<&'a str>,
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
        let now = now_rfc3339();
        let app = App {
            id: AppId::generate(),
            name: name.clone(),
            project_id: project.clone(),
            port,
            image: image.map(str::to_owned),
            description: description.to_owned(),
            created_at: now.clone(),
            updated_at: now,
        };
        self.conn()
            .execute(
                &format!("INSERT INTO apps ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    app.id.as_str(),
                    app.name.as_str(),
                    app.project_id.as_str(),
                    app.port,
                    app.image,
                    app.description,
                    app.created_at,
                    app.updated_at
                ],
            )
            .map_err(|e| {
                unique_conflict(e, || {
                    format!("an app named `{name}` already exists on this server")
                })
            })?;
        Ok(app)
    }

    pub fn app_list(&self, project: Option<&ProjectId>) -> StoreResult<Vec<App>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM apps WHERE (?1 IS NULL OR project_id = ?1) ORDER BY name"
        ))?;
        let rows = stmt
            .query_map([project.map(|p| p.as_str())], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(build).collect()
    }

    pub fn app_find(&self, r: &ResourceRef) -> StoreResult<App> {
        let (col, key) = match r {
            ResourceRef::App(id) => ("id", id.to_string()),
            ResourceRef::Name(n) => ("name", n.to_string()),
            ResourceRef::Project(_) => return Err(StoreError::NotFound(format!("app `{r}`"))),
        };
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM apps WHERE {col} = ?1"),
                [key],
                read_row,
            )
            .optional()?;
        row.map(build)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("app `{r}`")))
    }

    pub fn app_update(&self, id: &AppId, changes: &AppChanges<'_>) -> StoreResult<()> {
        let n = self.conn().execute(
            "UPDATE apps SET port = COALESCE(?2, port), image = COALESCE(?3, image), \
             description = COALESCE(?4, description), updated_at = ?5 WHERE id = ?1",
            params![
                id.as_str(),
                changes.port,
                changes.image,
                changes.description,
                now_rfc3339()
            ],
        )?;
        if n == 0 {
            Err(StoreError::NotFound(format!("app `{id}`")))
        } else {
            Ok(())
        }
    }

    pub fn app_delete(&self, id: &AppId) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM env_vars WHERE app_id = ?1", [id.as_str()])?;
        let n = tx.execute("DELETE FROM apps WHERE id = ?1", [id.as_str()])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("app `{id}`")));
        }
        tx.commit()?;
        Ok(())
    }

    pub fn app_count(&self) -> StoreResult<i64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM apps", [], |r| r.get(0))?)
    }
}

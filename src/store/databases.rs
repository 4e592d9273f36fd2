//! Databases table. The password is kept sealed in the row (context `database:<id>`):
//! the store never sees it in plaintext.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError, StoreResult, parse_col, unique_conflict};
use crate::domain::{Database, DatabaseId, DatabaseRef, Engine, ProjectId, ResourceName, now_rfc3339};

const COLUMNS: &str =
    "id, name, project_id, engine, version, image, public_port, memory_mb, cpus, stopped, created_at, sealed_password";

/// The context a database's password is sealed under.
pub fn database_password_context(id: &DatabaseId) -> String {
    format!("database:{id}")
}

/// What a new database row holds.
pub struct NewDatabase<'a> {
    pub id: &'a DatabaseId,
    pub name: &'a ResourceName,
    pub project: &'a ProjectId,
    pub engine: Engine,
    pub version: &'a str,
    pub image: &'a str,
    pub public_port: Option<u16>,
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
    pub sealed_password: &'a [u8],
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<StoreResult<(Database, Vec<u8>)>> {
    let port: Option<i64> = r.get(6)?;
    let memory: Option<i64> = r.get(7)?;
    let sealed: Vec<u8> = r.get(11)?;
    let build = || -> StoreResult<(Database, Vec<u8>)> {
        Ok((
            Database {
                id: parse_col(r.get(0)?)?,
                name: parse_col(r.get(1)?)?,
                project_id: parse_col(r.get(2)?)?,
                engine: parse_col(r.get(3)?)?,
                version: r.get(4)?,
                image: r.get(5)?,
                public_port: port
                    .map(|p| u16::try_from(p).map_err(|_| StoreError::Corrupt(format!("port {p}"))))
                    .transpose()?,
                memory_mb: memory.map(|m| m as u32),
                cpus: r.get(8)?,
                stopped: r.get(9)?,
                created_at: r.get(10)?,
            },
            sealed.clone(),
        ))
    };
    Ok(build())
}

impl Store {
    pub fn database_insert(&self, d: &NewDatabase<'_>) -> StoreResult<Database> {
        self.conn()
            .execute(
                "INSERT INTO databases (id, name, project_id, engine, version, image, public_port, memory_mb, cpus, \
                 sealed_password, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    d.id.as_str(),
                    d.name.as_str(),
                    d.project.as_str(),
                    d.engine.as_str(),
                    d.version,
                    d.image,
                    d.public_port,
                    d.memory_mb,
                    d.cpus,
                    d.sealed_password,
                    now_rfc3339()
                ],
            )
            .map_err(|e| {
                unique_conflict(e, || {
                    format!(
                        "a database named `{}` already exists on this server, or port {} is taken by another database",
                        d.name,
                        d.public_port.map(|p| p.to_string()).unwrap_or_default()
                    )
                })
            })?;
        self.database_find(&DatabaseRef::Id(d.id.clone()))
    }

    pub fn database_list(&self, project: Option<&ProjectId>) -> StoreResult<Vec<Database>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM databases WHERE (?1 IS NULL OR project_id = ?1) ORDER BY name"
        ))?;
        let rows = stmt
            .query_map([project.map(|p| p.as_str())], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|r| r.map(|(d, _)| d)).collect()
    }

    pub fn database_find(&self, r: &DatabaseRef) -> StoreResult<Database> {
        self.database_with_password(r).map(|(d, _)| d)
    }

    /// The database and its sealed password.
    pub fn database_with_password(&self, r: &DatabaseRef) -> StoreResult<(Database, Vec<u8>)> {
        let (col, key) = match r {
            DatabaseRef::Id(id) => ("id", id.to_string()),
            DatabaseRef::Name(n) => ("name", n.to_string()),
        };
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM databases WHERE {col} = ?1"),
                [key],
                read_row,
            )
            .optional()?;
        row.ok_or_else(|| StoreError::NotFound(format!("database `{r}`")))?
    }

    pub fn database_set_stopped(&self, id: &DatabaseId, stopped: bool) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE databases SET stopped = ?2 WHERE id = ?1",
            params![id.as_str(), stopped],
        )?;
        Ok(())
    }

    /// Replaces a database's sealed password (the master key's rotation reseals it).
    pub fn database_reseal(&self, id: &DatabaseId, sealed: &[u8]) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE databases SET sealed_password = ?2 WHERE id = ?1",
            params![id.as_str(), sealed],
        )?;
        Ok(())
    }

    pub fn database_delete(&self, id: &DatabaseId) -> StoreResult<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM databases WHERE id = ?1", [id.as_str()])?
            > 0)
    }
}

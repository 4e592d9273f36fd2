//! The SQLite store: one file in the data directory, append-only numbered migrations, one
//! module per table group. The connection sits behind a mutex: SQLite serialises writers
//! anyway, and every statement here is a point lookup or a short write.

mod apps;
pub use apps::AppChanges;
mod audit;
mod certs;
mod chat;
pub use certs::{AcmeStatus, CertRow};
mod backups;
pub use backups::{BackupPolicy, backup_key_context, destination_secret_context};
mod databases;
pub use databases::{NewDatabase, database_password_context};
mod domains;
pub use domains::DomainRow;
mod deployments;
mod diagnoses;
mod jobs;
pub use jobs::{JobRow, NewJob};
mod schedules;
pub use schedules::ScheduleRow;
mod git;
mod hooks;
pub use git::{
    Delivery, GitSource, NewDelivery, PreviewRow, deploy_key_setting, token_setting, webhook_secret_setting,
};
pub use hooks::HookRow;
mod env;
pub use env::SealedVar;
mod invites;
mod keys;
mod migrations;
mod oauth;
pub use oauth::{ClientRow, GrantRefresh, GrantRow, NewGrant};
mod projects;
pub use invites::{InviteRow, NewInvite};
mod sessions;
mod settings;
pub use sessions::{Refreshed, SessionRow};
mod users;
pub use users::{NewUser, UserRow};
mod sealed;
pub use sealed::{ResealCounts, Resealer, SEALED_PREFIX, SEALED_SETTING_PREFIX, SealedRef};

pub use audit::{AuditEntry, AuditFilter, AuditRecord, ChainReport};
pub use deployments::{DeploymentRow, LogLine};
pub use keys::{KeyRow, NewKey};

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database file {0}")]
    File(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (or creates) the database file, readable by its owner only. SQLite gives the
    /// `-wal` and `-shm` files it creates later the database file's mode; files left by an
    /// older version with a wider mode are narrowed too. Applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<Self> {
        {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::File(format!("{}: {e}", path.display())))?;
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = std::path::PathBuf::from(p);
            if p.exists() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| StoreError::File(format!("{}: {e}", p.display())))?;
            }
        }
        Self::init(Connection::open(path)?)
    }

    /// An in-memory store, for tests.
    pub fn open_in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> StoreResult<Self> {
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        migrations::apply(&mut conn)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (statements are
        // atomic), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This installation's id, created on first use. Containers carry it, so that two sh0
    /// servers sharing a Docker daemon never touch each other's containers.
    pub fn instance_id(&self) -> StoreResult<String> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO settings (key, value) VALUES ('instance_id', ?1)",
            [uuid::Uuid::now_v7().simple().to_string()],
        )?;
        Ok(conn.query_row("SELECT value FROM settings WHERE key = 'instance_id'", [], |r| r.get(0))?)
    }

    /// The schema version (number of applied migrations).
    pub fn schema_version(&self) -> StoreResult<i64> {
        Ok(self.conn().pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

/// Maps a UNIQUE violation to a readable conflict, anything else to a database error.
fn unique_conflict(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            StoreError::Conflict(what())
        }
        rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            StoreError::Conflict(what())
        }
        _ => StoreError::Sqlite(e),
    }
}

/// Reads a typed value stored as text, reporting corruption rather than panicking.
/// Appends numbered lines to a log table (`job_logs`: columns `<key>`,
/// `pos`, `line`) in one transaction; returns the next position.
fn log_append(store: &Store, table: &'static str, key: &'static str, id: &str, lines: &[String]) -> StoreResult<i64> {
    let mut conn = store.conn();
    let tx = conn.transaction()?;
    let mut pos: i64 = tx.query_row(
        &format!("SELECT COALESCE(MAX(pos) + 1, 0) FROM {table} WHERE {key} = ?1"),
        [id],
        |r| r.get(0),
    )?;
    for line in lines {
        tx.execute(
            &format!("INSERT INTO {table} ({key}, pos, line) VALUES (?1, ?2, ?3)"),
            rusqlite::params![id, pos, line],
        )?;
        pos += 1;
    }
    tx.commit()?;
    Ok(pos)
}

/// Lines of a log table from position `from` on (at most `limit`).
fn log_read(
    store: &Store,
    table: &'static str,
    key: &'static str,
    id: &str,
    from: i64,
    limit: u32,
) -> StoreResult<Vec<LogLine>> {
    let conn = store.conn();
    let mut stmt = conn.prepare(&format!(
        "SELECT pos, line FROM {table} WHERE {key} = ?1 AND pos >= ?2 ORDER BY pos LIMIT ?3"
    ))?;
    let rows = stmt.query_map(rusqlite::params![id, from, limit], |r| {
        Ok(LogLine {
            pos: r.get(0)?,
            line: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn parse_col<T: TryFrom<String, Error = String>>(s: String) -> StoreResult<T> {
    T::try_from(s).map_err(StoreError::Corrupt)
}

/// Timestamps are stored as their RFC 3339 text (see [`Timestamp`]).
impl rusqlite::types::ToSql for crate::domain::Timestamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
    }
}

impl rusqlite::types::FromSql for crate::domain::Timestamp {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        Self::parse(text).map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))
    }
}

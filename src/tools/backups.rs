//! Backup tools: create (now), list, get, restore, delete. Every view of a backup says
//! whether it was verified by restoring it, and why not.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::backup::LOCAL_DESTINATION;
use crate::domain::{
    Backup, BackupId, BackupStatus, Database, DatabaseRef, Engine, ResourceName, ResourceRef, Timestamp,
};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, ResourceKind, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct BackupCreate;
pub struct BackupList;
pub struct BackupGet;
pub struct BackupRestore;
pub struct BackupDelete;

const fn backup_target() -> Target {
    Target::Resource {
        field: "backup",
        resource: ResourceKind::Backup,
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupCreateInput {
    /// Database id or name.
    pub database: DatabaseRef,
    /// Where to store it (default `local`: the server's data directory).
    #[serde(default)]
    pub destination: Option<ResourceName>,
    /// Wait until the backup is stored and verified (default: return at once; follow it
    /// with backup_get or job_get).
    #[serde(default)]
    pub wait: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupListInput {
    /// Only the backups of this database (id or name).
    #[serde(default)]
    pub database: Option<DatabaseRef>,
    /// At most this many, newest first (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRefInput {
    pub backup: BackupId,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupRestoreInput {
    pub backup: BackupId,
    /// Restore into a new database of this name (in the backup's project, same engine and
    /// version) instead of over the database it was taken from.
    #[serde(default)]
    pub new_database: Option<ResourceName>,
    /// Restore a backup whose verification failed.
    #[serde(default)]
    pub allow_unverified: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct BackupView {
    pub id: String,
    pub database: String,
    pub engine: Engine,
    pub version: String,
    pub destination: String,
    pub path: String,
    /// `verified` only once a restored copy matched the source; anything else is not a
    /// backup to rely on yet.
    pub status: BackupStatus,
    pub verified: bool,
    /// Why it failed or is unverified.
    pub reason: Option<String>,
    /// Bytes stored (compressed and encrypted).
    pub size_bytes: Option<u64>,
    /// Tables and their row counts in the source at dump time (Redis: each logical
    /// database and its keys without an expiry).
    pub counts: Option<std::collections::BTreeMap<String, u64>>,
    pub job: Option<String>,
    /// `manual` or `schedule`.
    pub trigger: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl From<Backup> for BackupView {
    fn from(b: Backup) -> Self {
        Self {
            id: b.id.to_string(),
            database: b.database_name.to_string(),
            engine: b.engine,
            version: b.version,
            destination: b.destination,
            path: b.path,
            verified: b.status == BackupStatus::Verified,
            status: b.status,
            reason: b.reason,
            size_bytes: b.size_bytes,
            counts: b.counts,
            job: b.job_id.map(|j| j.to_string()),
            trigger: b.trigger,
            started_at: b.started_at,
            finished_at: b.finished_at,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct BackupListOutput {
    pub backups: Vec<BackupView>,
}

#[derive(Serialize, JsonSchema)]
pub struct BackupRestoreOutput {
    pub backup: String,
    /// The database it was restored into.
    pub database: String,
}

#[derive(Serialize, JsonSchema)]
pub struct BackupDeleteOutput {
    pub deleted: String,
}

#[async_trait]
impl Tool for BackupCreate {
    type Input = BackupCreateInput;
    type Output = BackupView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_create",
            title: "Back up a database now",
            description: "Back up a database now: its engine's own dump, compressed and encrypted, written to a \
                          destination (default `local`), then verified by restoring it into a throw-away server \
                          and comparing row counts. Runs as a job; with wait: true, returns when it is verified \
                          or has failed.",
            safety: Safety::Write,
            permission: Permission::DatabasesWrite,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Post, "/api/v1/databases/{database}/backups")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: BackupCreateInput) -> Result<BackupView, ToolError> {
        let db = ctx.store().database_find(&input.database)?;
        let destination = input
            .destination
            .map(|d| d.to_string())
            .unwrap_or_else(|| LOCAL_DESTINATION.to_owned());
        let trigger = if matches!(ctx.principal.id, crate::registry::PrincipalId::Schedule { .. }) {
            "schedule"
        } else {
            "manual"
        };
        let backup = ctx.backups().start(&db, &destination, &ctx.initiator(), trigger)?;
        if input.wait {
            return Ok(ctx.backups().wait(&backup.id).await?.into());
        }
        Ok(backup.into())
    }
}

#[async_trait]
impl Tool for BackupList {
    type Input = BackupListInput;
    type Output = BackupListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_list",
            title: "List backups",
            description: "List backups, newest first: of one database, or of every database you reach (those of \
                          deleted databases included). Each says whether it was verified, and why not.",
            safety: Safety::Read,
            permission: Permission::DatabasesRead,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Get, "/api/v1/backups")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: BackupListInput) -> Result<BackupListOutput, ToolError> {
        let db = input.database.map(|d| ctx.store().database_find(&d)).transpose()?;
        let limit = input.limit.unwrap_or(50) as usize;
        let backups = ctx
            .store()
            .backup_list(db.as_ref().map(|d| &d.id), limit)?
            .into_iter()
            .filter(|b| ctx.principal.reaches(&b.project_id))
            .map(BackupView::from)
            .collect();
        Ok(BackupListOutput { backups })
    }
}

#[async_trait]
impl Tool for BackupGet {
    type Input = BackupRefInput;
    type Output = BackupView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_get",
            title: "Show a backup",
            description: "A backup's status (verified, unverified with the reason, failed), size, row counts at \
                          dump time, destination and job.",
            safety: Safety::Read,
            permission: Permission::DatabasesRead,
            target: backup_target(),
            http: Some(HttpRoute::new(Get, "/api/v1/backups/{backup}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: BackupRefInput) -> Result<BackupView, ToolError> {
        Ok(ctx.store().backup_get(&input.backup)?.into())
    }
}

/// The database a restore writes into: the backup's own, or a new one made for it.
async fn restore_target(ctx: &ToolContext, backup: &Backup, new: Option<&ResourceName>) -> Result<Database, ToolError> {
    match new {
        None => ctx
            .store()
            .database_find(&DatabaseRef::Id(backup.database_id.clone()))
            .map_err(|_| {
                ToolError::not_found(format!(
                    "database `{}` no longer exists: restore into a new one with new_database",
                    backup.database_name
                ))
            }),
        Some(name) => {
            let project = ctx
                .store()
                .project_find(&ResourceRef::Project(backup.project_id.clone()))?;
            Ok(ctx
                .databases()
                .create(crate::databases::CreateDb {
                    name,
                    project: &project.id,
                    project_name: project.name.as_str(),
                    engine: backup.engine,
                    version: &backup.version,
                    public_port: None,
                    memory_mb: None,
                    cpus: None,
                })
                .await?)
        }
    }
}

#[async_trait]
impl Tool for BackupRestore {
    type Input = BackupRestoreInput;
    type Output = BackupRestoreOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_restore",
            title: "Restore a backup",
            description: "Restore a backup over the database it was taken from (its current data is replaced), \
                          or into a new database with new_database. The whole file is decrypted and checked \
                          first: a damaged backup is refused before anything changes. Destructive: needs confirm \
                          equal to the name of the database restored into.",
            safety: Safety::Destructive,
            permission: Permission::DatabasesWrite,
            target: backup_target(),
            http: Some(HttpRoute::new(Post, "/api/v1/backups/{backup}/restore")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &BackupRestoreInput) -> Result<String, ToolError> {
        let backup = ctx.store().backup_get(&input.backup)?;
        Ok(match &input.new_database {
            Some(n) => n.to_string(),
            None => backup.database_name.to_string(),
        })
    }

    async fn call(&self, ctx: &ToolContext, input: BackupRestoreInput) -> Result<BackupRestoreOutput, ToolError> {
        let backup = ctx.store().backup_get(&input.backup)?;
        if backup.status == BackupStatus::Unverified && !input.allow_unverified {
            return Err(ToolError::conflict(format!(
                "backup `{}` is unverified ({}); pass allow_unverified: true to restore it anyway",
                backup.id,
                backup.reason.as_deref().unwrap_or("no reason recorded")
            )));
        }
        let target = restore_target(ctx, &backup, input.new_database.as_ref()).await?;
        if let Err(e) = ctx.backups().restore(&backup, &target).await {
            // A database made for this restore goes again: its name stays free.
            if input.new_database.is_some()
                && let Err(d) = ctx.databases().delete(&target).await
            {
                tracing::warn!(database = %target.name, error = %d, "removing a database a failed restore made");
            }
            return Err(e.into());
        }
        Ok(BackupRestoreOutput {
            backup: backup.id.to_string(),
            database: target.name.to_string(),
        })
    }
}

#[async_trait]
impl Tool for BackupDelete {
    type Input = BackupRefInput;
    type Output = BackupDeleteOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "backup_delete",
            title: "Delete a backup",
            description: "Delete a backup's file from its destination and its record. Destructive: needs confirm \
                          equal to the backup's id.",
            safety: Safety::Destructive,
            permission: Permission::DatabasesWrite,
            target: backup_target(),
            http: Some(HttpRoute::new(Delete, "/api/v1/backups/{backup}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &BackupRefInput) -> Result<String, ToolError> {
        Ok(ctx.store().backup_get(&input.backup)?.id.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: BackupRefInput) -> Result<BackupDeleteOutput, ToolError> {
        let backup = ctx.store().backup_get(&input.backup)?;
        ctx.backups().delete(&backup).await?;
        Ok(BackupDeleteOutput {
            deleted: backup.id.to_string(),
        })
    }
}

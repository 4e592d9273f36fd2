//! Database tools: create, list, get, start, stop, restart, delete. Passwords never appear
//! here: `database_credentials` (its own permission) and `database_link` are the only
//! ways to them (see `database_access`).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::databases::{CreateDb, DbStatus};
use crate::domain::{Database, DatabaseRef, Engine, ResourceName, ResourceRef, Timestamp};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct DatabaseCreate;
pub struct DatabaseList;
pub struct DatabaseGet;
pub struct DatabaseStart;
pub struct DatabaseStop;
pub struct DatabaseRestart;
pub struct DatabaseDelete;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseCreateInput {
    /// Database name: a lowercase DNS label, unique on this server. Apps of its project
    /// reach it at this host name; it is also the database (and user) name inside.
    pub name: ResourceName,
    /// The project (id or name) it belongs to: only that project's apps can reach it.
    pub project: ResourceRef,
    pub engine: Engine,
    /// Engine version, e.g. `16` (default: the engine's current major version).
    #[serde(default)]
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[0-9A-Za-z][0-9A-Za-z._-]*$"))]
    pub version: Option<String>,
    /// Publish the database on this port of the server, on every interface. Leave it out
    /// to keep the database reachable from its project's apps only.
    #[serde(default)]
    #[schemars(range(min = 1024, max = 65535))]
    pub public_port: Option<u16>,
    /// Memory limit in MB.
    #[serde(default)]
    #[schemars(range(min = 64, max = 1048576))]
    pub memory_mb: Option<u32>,
    /// CPU limit (e.g. 0.5).
    #[serde(default)]
    #[schemars(range(min = 0.1, max = 256.0))]
    pub cpus: Option<f64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseListInput {
    /// Only the databases of this project (id or name).
    #[serde(default)]
    pub project: Option<ResourceRef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseRefInput {
    /// Database id or name.
    pub database: DatabaseRef,
}

/// A database as tools show it: never its password.
#[derive(Serialize, JsonSchema)]
pub struct DatabaseView {
    pub id: String,
    pub name: String,
    pub project: String,
    pub engine: Engine,
    pub version: String,
    pub image: String,
    pub status: DbStatus,
    /// Where its project's apps reach it.
    pub host: String,
    pub port: u16,
    /// The user apps connect as.
    pub user: String,
    /// The connection URL with the password left out (`database_credentials` has it).
    pub url_without_password: String,
    /// Whether the database is published on a port of the server (reachable from outside).
    pub public: bool,
    pub public_port: Option<u16>,
    pub memory_mb: Option<u32>,
    pub cpus: Option<f64>,
    /// Size of its data in bytes as the server counts it (Redis: memory used); `null` when
    /// it is not running.
    pub size_bytes: Option<u64>,
    /// Its most recent backup, verified or not (`null`: never backed up).
    pub latest_backup: Option<LatestBackup>,
    /// Its backup schedule's name, when it has one (backup_schedule_set).
    pub backup_schedule: Option<String>,
    pub created_at: Timestamp,
}

impl DatabaseView {
    pub(super) async fn of(ctx: &ToolContext, db: Database, with_size: bool) -> Result<Self, ToolError> {
        let project = ctx.store().project_find(&ResourceRef::Project(db.project_id.clone()))?;
        let status = ctx.databases().status(&db).await;
        let size_bytes = if with_size && status == DbStatus::Running {
            ctx.databases().size(&db).await
        } else {
            None
        };
        let port = db.engine.port();
        let latest_backup = ctx
            .store()
            .backup_list(Some(&db.id), 1)?
            .into_iter()
            .next()
            .map(|b| LatestBackup {
                id: b.id.to_string(),
                verified: b.status == crate::domain::BackupStatus::Verified,
                status: b.status,
                reason: b.reason,
                started_at: b.started_at,
            });
        let backup_schedule = ctx
            .store()
            .backup_policy_get(&db.id)?
            .and_then(|p| ctx.store().schedule_find(p.schedule_id.as_str()).ok())
            .map(|s| s.name.to_string());
        Ok(Self {
            latest_backup,
            backup_schedule,
            id: db.id.to_string(),
            host: db.name.to_string(),
            port,
            user: db.engine.user(&db.name),
            url_without_password: db
                .engine
                .url(&db.name, "PASSWORD", db.name.as_str(), port)
                .replace(":PASSWORD@", "@"),
            name: db.name.to_string(),
            project: project.name.to_string(),
            engine: db.engine,
            version: db.version,
            image: db.image,
            status,
            public: db.public_port.is_some(),
            public_port: db.public_port,
            memory_mb: db.memory_mb,
            cpus: db.cpus,
            size_bytes,
            created_at: db.created_at,
        })
    }
}

#[derive(Serialize, JsonSchema)]
pub struct DatabaseListOutput {
    pub databases: Vec<DatabaseView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseDeleteInput {
    /// Database id or name.
    pub database: DatabaseRef,
    /// Delete its backups too (default: they are kept, and can be restored into a new
    /// database with backup_restore's new_database).
    #[serde(default)]
    pub delete_backups: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct DatabaseDeleteOutput {
    pub deleted: String,
    /// Backups of it that are kept.
    pub backups_kept: usize,
    pub backups_deleted: usize,
}

/// The latest backup of a database, as its views show it.
#[derive(Serialize, JsonSchema)]
pub struct LatestBackup {
    pub id: String,
    pub status: crate::domain::BackupStatus,
    pub verified: bool,
    pub reason: Option<String>,
    pub started_at: Timestamp,
}

#[async_trait]
impl Tool for DatabaseCreate {
    type Input = DatabaseCreateInput;
    type Output = DatabaseView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_create",
            title: "Create a database",
            description: "Create a managed database (PostgreSQL, MySQL, MariaDB, MongoDB or Redis) in a project, \
                          with a generated password, its data in a volume, reachable by the project's apps at \
                          its name, and no public port unless public_port is given. Returns once it is healthy. \
                          Give an app its URL with database_link.",
            safety: Safety::Write,
            permission: Permission::DatabasesWrite,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Post, "/api/v1/databases")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseCreateInput) -> Result<DatabaseView, ToolError> {
        let project = ctx.store().project_find(&input.project)?;
        let version = input
            .version
            .unwrap_or_else(|| input.engine.default_version().to_owned());
        let db = ctx
            .databases()
            .create(CreateDb {
                name: &input.name,
                project: &project.id,
                project_name: project.name.as_str(),
                engine: input.engine,
                version: &version,
                public_port: input.public_port,
                memory_mb: input.memory_mb,
                cpus: input.cpus,
            })
            .await?;
        DatabaseView::of(ctx, db, false).await
    }
}

#[async_trait]
impl Tool for DatabaseList {
    type Input = DatabaseListInput;
    type Output = DatabaseListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_list",
            title: "List databases",
            description: "List managed databases, all of them or those of one project, with their status.",
            safety: Safety::Read,
            permission: Permission::DatabasesRead,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Get, "/api/v1/databases")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseListInput) -> Result<DatabaseListOutput, ToolError> {
        let project = input.project.map(|p| ctx.store().project_find(&p)).transpose()?;
        let mut databases = Vec::new();
        for db in ctx.store().database_list(project.as_ref().map(|p| &p.id))? {
            if ctx.principal.reaches(&db.project_id) {
                databases.push(DatabaseView::of(ctx, db, false).await?);
            }
        }
        Ok(DatabaseListOutput { databases })
    }
}

#[async_trait]
impl Tool for DatabaseGet {
    type Input = DatabaseRefInput;
    type Output = DatabaseView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_get",
            title: "Show a database",
            description: "A database's engine, version, status, size and connection details (host, port, user, \
                          URL without the password), and whether it is published on a public port.",
            safety: Safety::Read,
            permission: Permission::DatabasesRead,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Get, "/api/v1/databases/{database}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseRefInput) -> Result<DatabaseView, ToolError> {
        let db = ctx.store().database_find(&input.database)?;
        DatabaseView::of(ctx, db, true).await
    }
}

/// The project name a database's network is named after.
fn project_name(ctx: &ToolContext, db: &Database) -> Result<String, ToolError> {
    Ok(ctx
        .store()
        .project_find(&ResourceRef::Project(db.project_id.clone()))?
        .name
        .to_string())
}

#[async_trait]
impl Tool for DatabaseStart {
    type Input = DatabaseRefInput;
    type Output = DatabaseView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_start",
            title: "Start a database",
            description: "Start a stopped database and wait until it is healthy. A database whose container was \
                          removed by hand gets a new one on its kept data.",
            safety: Safety::Write,
            permission: Permission::DatabasesWrite,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Post, "/api/v1/databases/{database}/start")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseRefInput) -> Result<DatabaseView, ToolError> {
        let db = ctx.store().database_find(&input.database)?;
        ctx.databases().start(&db, &project_name(ctx, &db)?).await?;
        DatabaseView::of(ctx, ctx.store().database_find(&input.database)?, false).await
    }
}

#[async_trait]
impl Tool for DatabaseStop {
    type Input = DatabaseRefInput;
    type Output = DatabaseView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_stop",
            title: "Stop a database",
            description: "Stop a database; apps using it lose their connection until database_start. Its data \
                          is kept.",
            safety: Safety::Write,
            permission: Permission::DatabasesWrite,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Post, "/api/v1/databases/{database}/stop")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseRefInput) -> Result<DatabaseView, ToolError> {
        let db = ctx.store().database_find(&input.database)?;
        ctx.databases().stop(&db).await?;
        DatabaseView::of(ctx, ctx.store().database_find(&input.database)?, false).await
    }
}

#[async_trait]
impl Tool for DatabaseRestart {
    type Input = DatabaseRefInput;
    type Output = DatabaseView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_restart",
            title: "Restart a database",
            description: "Stop and start a database (its connections drop), and wait until it is healthy.",
            safety: Safety::Write,
            permission: Permission::DatabasesWrite,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Post, "/api/v1/databases/{database}/restart")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseRefInput) -> Result<DatabaseView, ToolError> {
        let db = ctx.store().database_find(&input.database)?;
        ctx.databases().restart(&db, &project_name(ctx, &db)?).await?;
        DatabaseView::of(ctx, ctx.store().database_find(&input.database)?, false).await
    }
}

#[async_trait]
impl Tool for DatabaseDelete {
    type Input = DatabaseDeleteInput;
    type Output = DatabaseDeleteOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "database_delete",
            title: "Delete a database",
            description: "Delete a database: its container and its data volume. Its backups are kept unless \
                          delete_backups is true. Irreversible. Destructive: needs confirm equal to the database's \
                          name.",
            safety: Safety::Destructive,
            permission: Permission::DatabasesWrite,
            target: Target::database("database"),
            http: Some(HttpRoute::new(Delete, "/api/v1/databases/{database}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &DatabaseDeleteInput) -> Result<String, ToolError> {
        Ok(ctx.store().database_find(&input.database)?.name.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: DatabaseDeleteInput) -> Result<DatabaseDeleteOutput, ToolError> {
        let db = ctx.store().database_find(&input.database)?;
        let backups = ctx.store().backup_list(Some(&db.id), 100_000)?;
        if backups.iter().any(|b| !b.status.is_final()) {
            return Err(ToolError::conflict(format!(
                "a backup of `{}` is running; wait for it to end (job_list) before deleting the database",
                db.name
            )));
        }
        // Its schedule first (no backup starts from here on), then the database; its
        // backups only once the database is gone.
        if let Some(policy) = ctx.store().backup_policy_get(&db.id)? {
            ctx.store().schedule_delete(&policy.schedule_id)?;
        }
        ctx.databases().delete(&db).await?;
        let mut deleted = 0;
        if input.delete_backups {
            for b in &backups {
                ctx.backups().delete(b).await?;
                deleted += 1;
            }
        }
        Ok(DatabaseDeleteOutput {
            deleted: db.name.to_string(),
            backups_kept: backups.len() - deleted,
            backups_deleted: deleted,
        })
    }
}

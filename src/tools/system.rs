//! `system_info`: what this server is and how it is doing.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::registry::{HttpMethod::Get, HttpRoute, Target};
use crate::registry::{Permission, Safety, Tool, ToolContext, ToolError, ToolMeta};

pub struct SystemInfo;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemInfoInput {}

#[derive(Serialize, JsonSchema)]
pub struct SystemInfoOutput {
    /// sh0 version.
    pub version: String,
    /// When this server process started (RFC 3339, UTC).
    pub started_at: Timestamp,
    pub uptime_secs: u64,
    /// Applied store migrations.
    pub schema_version: i64,
    pub projects: i64,
    pub apps: i64,
    /// Number of tools in the registry.
    pub tools: usize,
    /// Host names the server answers to.
    pub hosts: Vec<String>,
    /// Apps are reachable at `<app>.<base_domain>`.
    pub base_domain: String,
    pub docker: DockerStatus,
    pub edge: EdgeStatus,
    /// Managed databases the caller reaches.
    pub databases: i64,
    /// Databases whose latest backup is not verified (it failed, or its restore did not
    /// match): never silent.
    pub backup_problems: Vec<BackupProblem>,
}

#[derive(Serialize, JsonSchema)]
pub struct BackupProblem {
    pub database: String,
    pub backup: String,
    pub status: crate::domain::BackupStatus,
    pub reason: Option<String>,
    pub at: Timestamp,
}

/// How the proxy faces the world.
#[derive(Serialize, JsonSchema)]
pub struct EdgeStatus {
    /// The proxy's plain HTTP port (0: disabled).
    pub http_port: u16,
    /// The proxy's HTTPS port (0: disabled).
    pub https_port: u16,
    /// Where certificates are ordered; `null` when automatic certificates are off.
    pub acme_directory: Option<String>,
    /// The panel's own domain, served by the proxy, and its URL.
    pub panel_domain: Option<String>,
    pub panel_url: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct DockerStatus {
    pub reachable: bool,
    /// Docker engine version, when reachable.
    pub version: Option<String>,
    /// Negotiated API version, when reachable.
    pub api_version: Option<String>,
    /// Why Docker is not usable, and what to do about it.
    pub error: Option<String>,
}

#[async_trait]
impl Tool for SystemInfo {
    type Input = SystemInfoInput;
    type Output = SystemInfoOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "system_info",
            title: "Server information",
            description: "Describe this sh0 server: version, uptime, store schema version, how many projects and \
                          apps and databases it holds, databases whose latest backup is not verified, the host names \
                          it answers to, its proxy ports, ACME directory and panel domain, and whether Docker is \
                          reachable. Use it \
                          first to check that the connection works.",
            safety: Safety::Read,
            permission: Permission::SystemRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/system")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: SystemInfoInput) -> Result<SystemInfoOutput, ToolError> {
        let s = &ctx.services;
        let databases: Vec<_> = s
            .store
            .database_list(None)?
            .into_iter()
            .filter(|d| ctx.principal.reaches(&d.project_id))
            .collect();
        let mut backup_problems = Vec::new();
        for db in &databases {
            let latest = s
                .store
                .backup_list(Some(&db.id), 10)?
                .into_iter()
                .find(|b| b.status.is_final());
            if let Some(b) = latest.filter(|b| b.status != crate::domain::BackupStatus::Verified) {
                backup_problems.push(BackupProblem {
                    database: db.name.to_string(),
                    backup: b.id.to_string(),
                    status: b.status,
                    reason: b.reason,
                    at: b.finished_at.unwrap_or(b.started_at),
                });
            }
        }
        Ok(SystemInfoOutput {
            databases: databases.len() as i64,
            backup_problems,
            version: env!("CARGO_PKG_VERSION").into(),
            started_at: s.started_at,
            uptime_secs: s.started.elapsed().as_secs(),
            schema_version: s.store.schema_version()?,
            // Counts of what the caller reaches: others' projects are not even counted.
            projects: s
                .store
                .project_list()?
                .iter()
                .filter(|p| ctx.principal.reaches(&p.id))
                .count() as i64,
            apps: s
                .store
                .app_list(None)?
                .iter()
                .filter(|a| ctx.principal.reaches(&a.project_id))
                .count() as i64,
            tools: crate::tools::all().len(),
            hosts: s.settings.hosts.clone(),
            base_domain: s.settings.base_domain.clone(),
            edge: EdgeStatus {
                http_port: s.settings.http_port,
                https_port: s.settings.https_port,
                acme_directory: s.edge.acme().map(|a| a.directory.clone()),
                panel_domain: s.edge.panel().map(ToString::to_string),
                panel_url: s.edge.panel().map(|p| {
                    let https = s.edge.state().certs.covers(p.as_str());
                    s.settings.host_url(p.as_str(), https)
                }),
            },
            docker: match s.deployer.docker().info().await {
                Ok(i) => DockerStatus {
                    reachable: true,
                    version: Some(i.version),
                    api_version: Some(i.api_version),
                    error: None,
                },
                Err(e) => DockerStatus {
                    reachable: false,
                    version: None,
                    api_version: None,
                    error: Some(e.to_string()),
                },
            },
        })
    }
}

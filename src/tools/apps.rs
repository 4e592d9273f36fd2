//! App tools: create, list, get, update, delete. Deployment comes with the deploy engine;
//! these manage the app record every deployment hangs on.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::deploy::AppRuntime;
use crate::domain::{App, HealthCheck, ResourceName, ResourceRef, RestartPolicy};
use crate::registry::HttpMethod::{Delete, Get, Patch, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::AppChanges;

pub struct AppCreate;
pub struct AppList;
pub struct AppGet;
pub struct AppUpdate;
pub struct AppDelete;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCreateInput {
    /// App name: a lowercase DNS label, unique on this server. It becomes the host name
    /// `<name>.<base-domain>`.
    pub name: ResourceName,
    /// The project (id or name) the app belongs to.
    pub project: ResourceRef,
    /// The port the app listens on inside its container.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// A Docker image to run (e.g. `nginx:1.27`), when the app is deployed from an image.
    #[serde(default)]
    #[schemars(length(min = 1, max = 255), regex(pattern = crate::domain::names::IMAGE_REF_PATTERN))]
    pub image: Option<String>,
    /// What the app is.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppListInput {
    /// Only the apps of this project (id or name).
    #[serde(default)]
    pub project: Option<ResourceRef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRefInput {
    /// App id or name.
    pub app: ResourceRef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppUpdateInput {
    /// App id or name.
    pub app: ResourceRef,
    /// New container port.
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// New image reference.
    #[serde(default)]
    #[schemars(length(min = 1, max = 255), regex(pattern = crate::domain::names::IMAGE_REF_PATTERN))]
    pub image: Option<String>,
    /// New description.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
    /// Health check path, requested over HTTP; any answer below 500 is healthy.
    #[serde(default)]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^/[!-~]*$"))]
    pub health_path: Option<String>,
    /// Milliseconds between health check attempts.
    #[serde(default)]
    #[schemars(range(min = 100, max = 60000))]
    pub health_interval_ms: Option<u32>,
    /// Milliseconds one attempt may take.
    #[serde(default)]
    #[schemars(range(min = 100, max = 60000))]
    pub health_timeout_ms: Option<u32>,
    /// Attempts before a deployment is failed.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub health_retries: Option<u32>,
    /// Memory limit in MiB.
    #[serde(default)]
    #[schemars(range(min = 16, max = 1048576))]
    pub memory_mb: Option<u32>,
    /// CPU limit in cores.
    #[serde(default)]
    #[schemars(range(min = 0.01, max = 256.0))]
    pub cpus: Option<f64>,
    /// What Docker does when the app's process exits.
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
}

/// An app as tools return it: the record and where it answers.
#[derive(Serialize, JsonSchema)]
pub struct AppView {
    #[serde(flatten)]
    pub app: App,
    /// The app's URL through the proxy.
    pub url: String,
    /// What its serving container is doing (followed from Docker's events): running,
    /// restarting, exited, oom_killed, removed (outside sh0) or unknown (Docker is away).
    pub runtime: Option<AppRuntime>,
}

impl AppView {
    fn of(ctx: &ToolContext, app: App) -> Self {
        let url = ctx.services.settings.app_url(app.name.as_str());
        let runtime = ctx.deployer().runtime_of(&app.id);
        Self { app, url, runtime }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct AppListOutput {
    pub apps: Vec<AppView>,
}

#[derive(Serialize, JsonSchema)]
pub struct AppDeleteOutput {
    /// The deleted app's name.
    pub deleted: String,
}

fn check_port(port: Option<u16>) -> Result<(), ToolError> {
    if port == Some(0) {
        Err(ToolError::invalid("port: must be between 1 and 65535"))
    } else {
        Ok(())
    }
}

#[async_trait]
impl Tool for AppCreate {
    type Input = AppCreateInput;
    type Output = AppView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_create",
            title: "Create an app",
            description: "Create an app in a project. App names are unique on the server and become the app's host \
                          name. Returns the new app with its id; deploying it comes next.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppCreateInput) -> Result<AppView, ToolError> {
        check_port(input.port)?;
        let project = ctx.store().project_find(&input.project)?;
        let app = ctx.store().app_insert(
            &project.id,
            &input.name,
            input.port,
            input.image.as_deref(),
            input.description.as_deref().unwrap_or(""),
        )?;
        ctx.deployer().app_created(&app);
        Ok(AppView::of(ctx, app))
    }
}

#[async_trait]
impl Tool for AppList {
    type Input = AppListInput;
    type Output = AppListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_list",
            title: "List apps",
            description: "List apps, all of them or those of one project, ordered by name.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppListInput) -> Result<AppListOutput, ToolError> {
        let project = input.project.map(|p| ctx.store().project_find(&p)).transpose()?;
        Ok(AppListOutput {
            apps: ctx
                .store()
                .app_list(project.as_ref().map(|p| &p.id))?
                .into_iter()
                .filter(|a| ctx.principal.reaches(&a.project_id))
                .map(|a| AppView::of(ctx, a))
                .collect(),
        })
    }
}

#[async_trait]
impl Tool for AppGet {
    type Input = AppRefInput;
    type Output = AppView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_get",
            title: "Get an app",
            description: "Get one app by id or name.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<AppView, ToolError> {
        Ok(AppView::of(ctx, ctx.store().app_find(&input.app)?))
    }
}

#[async_trait]
impl Tool for AppUpdate {
    type Input = AppUpdateInput;
    type Output = AppView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_update",
            title: "Update an app",
            description: "Change an app's settings: port, image, description, health check, memory and CPU \
                          limits, restart policy. Fields left out keep their value; changes apply at the next \
                          deployment. Returns the updated app.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Patch, "/api/v1/apps/{app}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppUpdateInput) -> Result<AppView, ToolError> {
        check_port(input.port)?;
        let app = ctx.store().app_find(&input.app)?;
        let health = (input.health_path.is_some()
            || input.health_interval_ms.is_some()
            || input.health_timeout_ms.is_some()
            || input.health_retries.is_some())
        .then(|| HealthCheck {
            path: input.health_path.clone().unwrap_or(app.health.path.clone()),
            interval_ms: input.health_interval_ms.unwrap_or(app.health.interval_ms),
            timeout_ms: input.health_timeout_ms.unwrap_or(app.health.timeout_ms),
            retries: input.health_retries.unwrap_or(app.health.retries),
        });
        let changes = AppChanges {
            port: input.port,
            image: input.image.as_deref(),
            description: input.description.as_deref(),
            health: health.as_ref(),
            memory_mb: input.memory_mb,
            cpus: input.cpus,
            restart_policy: input.restart_policy.map(RestartPolicy::as_str),
        };
        ctx.store().app_update(&app.id, &changes)?;
        Ok(AppView::of(ctx, ctx.store().app_find(&ResourceRef::App(app.id))?))
    }
}

#[async_trait]
impl Tool for AppDelete {
    type Input = AppRefInput;
    type Output = AppDeleteOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_delete",
            title: "Delete an app",
            description: "Delete an app permanently: its containers, route, images, deployments, environment and \
                          preview apps. Destructive: needs confirm equal to the app's name.",
            safety: Safety::Destructive,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &AppRefInput) -> Result<String, ToolError> {
        Ok(ctx.store().app_find(&input.app)?.name.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<AppDeleteOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        // Its previews go first: they run its code with copies of its secrets.
        for preview in ctx.store().preview_list(&app.id)? {
            if let Ok(p) = ctx.store().app_find(&ResourceRef::App(preview.app_id)) {
                ctx.deployer().app_removed(&p).await?;
                ctx.store().app_delete(&p.id)?;
                ctx.edge().state().metrics.forget(p.name.as_str());
            }
        }
        ctx.deployer().app_removed(&app).await?;
        ctx.store().app_delete(&app.id)?;
        // Its domains went with it (ON DELETE CASCADE): drop their routes and counters.
        ctx.edge().domains_changed();
        ctx.edge().state().metrics.forget(app.name.as_str());
        Ok(AppDeleteOutput {
            deleted: app.name.to_string(),
        })
    }
}

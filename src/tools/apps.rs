//! App tools: create, list, get, update, delete. Deployment comes with the deploy engine;
//! these manage the app record every deployment hangs on.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{App, ResourceName, ResourceRef};
use crate::registry::HttpMethod::{Delete, Get, Patch, Post};
use crate::registry::{HttpRoute, Permission, Safety, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::AppChanges;

pub struct AppCreate;
pub struct AppList;
pub struct AppGet;
pub struct AppUpdate;
pub struct AppDelete;

/// Docker image reference: registry/name:tag or @digest.
const IMAGE_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$";

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
    #[schemars(length(min = 1, max = 255), regex(pattern = IMAGE_PATTERN))]
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
    #[schemars(length(min = 1, max = 255), regex(pattern = IMAGE_PATTERN))]
    pub image: Option<String>,
    /// New description.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct AppListOutput {
    pub apps: Vec<App>,
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
    type Output = App;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_create",
            title: "Create an app",
            description: "Create an app in a project. App names are unique on the server and become the app's host \
                          name. Returns the new app with its id; deploying it comes next.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            http: Some(HttpRoute::new(Post, "/api/v1/apps")),
            cli: &["app", "create"],
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppCreateInput) -> Result<App, ToolError> {
        check_port(input.port)?;
        let project = ctx.store().project_find(&input.project)?;
        Ok(ctx.store().app_insert(
            &project.id,
            &input.name,
            input.port,
            input.image.as_deref(),
            input.description.as_deref().unwrap_or(""),
        )?)
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
            http: Some(HttpRoute::new(Get, "/api/v1/apps")),
            cli: &["app", "list"],
            idempotent: true,
        }
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        input: AppListInput,
    ) -> Result<AppListOutput, ToolError> {
        let project = input
            .project
            .map(|p| ctx.store().project_find(&p))
            .transpose()?;
        Ok(AppListOutput {
            apps: ctx.store().app_list(project.as_ref().map(|p| &p.id))?,
        })
    }
}

#[async_trait]
impl Tool for AppGet {
    type Input = AppRefInput;
    type Output = App;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_get",
            title: "Get an app",
            description: "Get one app by id or name.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}")),
            cli: &["app", "get"],
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<App, ToolError> {
        Ok(ctx.store().app_find(&input.app)?)
    }
}

#[async_trait]
impl Tool for AppUpdate {
    type Input = AppUpdateInput;
    type Output = App;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_update",
            title: "Update an app",
            description: "Change an app's port, image or description. Fields left out keep their value. Returns the \
                          updated app.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            http: Some(HttpRoute::new(Patch, "/api/v1/apps/{app}")),
            cli: &["app", "update"],
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppUpdateInput) -> Result<App, ToolError> {
        check_port(input.port)?;
        let app = ctx.store().app_find(&input.app)?;
        let changes = AppChanges {
            port: input.port,
            image: input.image.as_deref(),
            description: input.description.as_deref(),
        };
        ctx.store().app_update(&app.id, &changes)?;
        Ok(ctx.store().app_find(&ResourceRef::App(app.id))?)
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
            description: "Delete an app and its environment permanently. Destructive: needs confirm equal to the \
                          app's name.",
            safety: Safety::Destructive,
            permission: Permission::AppsWrite,
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}")),
            cli: &["app", "delete"],
            idempotent: false,
        }
    }

    async fn confirmation_target(
        &self,
        ctx: &ToolContext,
        input: &AppRefInput,
    ) -> Result<String, ToolError> {
        Ok(ctx.store().app_find(&input.app)?.name.to_string())
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        input: AppRefInput,
    ) -> Result<AppDeleteOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        ctx.store().app_delete(&app.id)?;
        Ok(AppDeleteOutput {
            deleted: app.name.to_string(),
        })
    }
}

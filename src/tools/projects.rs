//! Project tools: create, list, get, update, delete.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::domain::{Project, ResourceName, ResourceRef};
use crate::registry::HttpMethod::{Delete, Get, Patch, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct ProjectCreate;
pub struct ProjectList;
pub struct ProjectGet;
pub struct ProjectUpdate;
pub struct ProjectDelete;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCreateInput {
    /// Project name: a lowercase DNS label, unique on this server.
    pub name: ResourceName,
    /// What the project is for.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRefInput {
    /// Project id or name.
    pub project: ResourceRef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdateInput {
    /// Project id or name.
    pub project: ResourceRef,
    /// New name.
    #[serde(default)]
    pub name: Option<ResourceName>,
    /// New description.
    #[serde(default)]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectDeleteInput {
    /// Project id or name.
    pub project: ResourceRef,
    /// Also delete every app of the project (and their environment). Without it, a project
    /// that still has apps is not deleted.
    #[serde(default)]
    pub cascade: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct ProjectListOutput {
    pub projects: Vec<Project>,
}

#[derive(Serialize, JsonSchema)]
pub struct ProjectDeleteOutput {
    /// The deleted project's name.
    pub deleted: String,
    /// Apps deleted with it (cascade).
    pub deleted_apps: Vec<String>,
}

#[async_trait]
impl Tool for ProjectCreate {
    type Input = ProjectCreateInput;
    type Output = Project;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "project_create",
            title: "Create a project",
            description: "Create a project, the group that holds a stack's apps (and later its databases and cron \
                          jobs). Returns the new project with its id.",
            safety: Safety::Write,
            permission: Permission::ProjectsWrite,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/projects")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ProjectCreateInput) -> Result<Project, ToolError> {
        let project = ctx
            .store()
            .project_insert(&input.name, input.description.as_deref().unwrap_or(""))?;
        // A developer who creates a project is its member (owners and admins reach all).
        if let Some(user) = &ctx.principal.user
            && !ctx.principal.access.every_project
        {
            ctx.store().membership_add(user, &project.id)?;
        }
        Ok(project)
    }
}

#[async_trait]
impl Tool for ProjectList {
    type Input = NoInput;
    type Output = ProjectListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "project_list",
            title: "List projects",
            description: "List every project on this server, ordered by name.",
            safety: Safety::Read,
            permission: Permission::ProjectsRead,
            target: Target::Listing,
            http: Some(HttpRoute::new(Get, "/api/v1/projects")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<ProjectListOutput, ToolError> {
        Ok(ProjectListOutput {
            projects: ctx
                .store()
                .project_list()?
                .into_iter()
                .filter(|p| ctx.principal.reaches(&p.id))
                .collect(),
        })
    }
}

#[async_trait]
impl Tool for ProjectGet {
    type Input = ProjectRefInput;
    type Output = Project;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "project_get",
            title: "Get a project",
            description: "Get one project by id or name.",
            safety: Safety::Read,
            permission: Permission::ProjectsRead,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Get, "/api/v1/projects/{project}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ProjectRefInput) -> Result<Project, ToolError> {
        Ok(ctx.store().project_find(&input.project)?)
    }
}

#[async_trait]
impl Tool for ProjectUpdate {
    type Input = ProjectUpdateInput;
    type Output = Project;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "project_update",
            title: "Update a project",
            description: "Rename a project or change its description. Fields left out keep their value. Returns the \
                          updated project.",
            safety: Safety::Write,
            permission: Permission::ProjectsWrite,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Patch, "/api/v1/projects/{project}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ProjectUpdateInput) -> Result<Project, ToolError> {
        let store = ctx.store();
        let p = store.project_find(&input.project)?;
        store.project_update(&p.id, input.name.as_ref(), input.description.as_deref())?;
        Ok(store.project_find(&ResourceRef::Project(p.id))?)
    }
}

#[async_trait]
impl Tool for ProjectDelete {
    type Input = ProjectDeleteInput;
    type Output = ProjectDeleteOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "project_delete",
            title: "Delete a project",
            description: "Delete a project permanently. Refuses while the project has apps unless cascade is true, \
                          which deletes them too. Destructive: needs confirm equal to the project's name.",
            safety: Safety::Destructive,
            permission: Permission::ProjectsWrite,
            target: Target::project("project"),
            http: Some(HttpRoute::new(Delete, "/api/v1/projects/{project}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &ProjectDeleteInput) -> Result<String, ToolError> {
        Ok(ctx.store().project_find(&input.project)?.name.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: ProjectDeleteInput) -> Result<ProjectDeleteOutput, ToolError> {
        let p = ctx.store().project_find(&input.project)?;
        // Without cascade the store refuses a project with apps, atomically, and nothing
        // runs to tear down; with it, the apps' containers and routes go first.
        if input.cascade {
            for app in ctx.store().app_list(Some(&p.id))? {
                ctx.deployer().app_removed(&app).await?;
            }
        }
        let deleted_apps = ctx.store().project_delete(&p.id, input.cascade)?;
        ctx.deployer().project_removed(p.name.as_str()).await;
        if !deleted_apps.is_empty() {
            ctx.edge().domains_changed();
            for app in &deleted_apps {
                ctx.edge().state().metrics.forget(app);
            }
        }
        Ok(ProjectDeleteOutput {
            deleted: p.name.to_string(),
            deleted_apps,
        })
    }
}

//! Preview apps of pull/merge requests: `preview_deploy` makes (or updates) the app
//! `pr-<number>-<app>` — the parent's settings, environment and repository, none of its
//! domains — and deploys the request's commit; `preview_close` removes it with all it
//! made; `preview_list` lists them. The git webhook calls them when a request is opened,
//! updated or closed; people and agents can too.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::env_context;
use crate::domain::{App, CommitSha, GitBranch, ResourceName, ResourceRef, Timestamp};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{AppChanges, PreviewRow, deploy_key_setting, token_setting};

/// Previews one app may have at once.
pub const MAX_PREVIEWS_PER_APP: usize = 5;

pub struct PreviewList;
pub struct PreviewDeploy;
pub struct PreviewClose;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewListInput {
    /// The parent app (id or name).
    pub app: ResourceRef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewDeployInput {
    /// The parent app (id or name): it must deploy from a git repository.
    pub app: ResourceRef,
    /// The pull/merge request's number.
    #[schemars(range(min = 1, max = 99_999_999))]
    pub number: u32,
    /// The request's branch (fetched when the remote will not give a commit by id).
    #[serde(default)]
    pub branch: Option<GitBranch>,
    /// The commit to deploy (default: the head of `branch`).
    #[serde(default)]
    pub commit: Option<CommitSha>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewCloseInput {
    /// The parent app (id or name).
    pub app: ResourceRef,
    /// The pull/merge request's number.
    #[schemars(range(min = 1, max = 99_999_999))]
    pub number: u32,
}

#[derive(Serialize, JsonSchema)]
pub struct PreviewView {
    pub number: u32,
    /// The preview app's name, `pr-<number>-<app>`.
    pub app: String,
    pub url: String,
    pub branch: Option<GitBranch>,
    pub status: Option<String>,
    pub commit: Option<CommitSha>,
    pub created_at: Timestamp,
}

#[derive(Serialize, JsonSchema)]
pub struct PreviewListOutput {
    pub previews: Vec<PreviewView>,
}

#[derive(Serialize, JsonSchema)]
pub struct PreviewDeployOutput {
    pub preview: String,
    pub url: String,
    pub deployment_id: crate::domain::DeploymentId,
    /// Whether the preview app was made by this call.
    pub created: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct PreviewCloseOutput {
    /// The preview app that was deleted, if there was one.
    pub deleted: Option<String>,
}

/// `pr-<number>-<parent>`, cut to a DNS label.
fn preview_name(number: u32, parent: &ResourceName) -> Result<ResourceName, ToolError> {
    let full = format!("pr-{number}-{parent}");
    let cut: String = full.chars().take(63).collect();
    ResourceName::parse(cut.trim_end_matches('-')).map_err(ToolError::internal)
}

fn view(ctx: &ToolContext, row: &PreviewRow) -> Result<PreviewView, ToolError> {
    let app = ctx.store().app_find(&ResourceRef::App(row.app_id.clone()))?;
    let latest = ctx.store().deployment_list(&app.id, 1)?.into_iter().next();
    Ok(PreviewView {
        number: row.number,
        url: ctx.services.settings.app_url(app.name.as_str()),
        app: app.name.to_string(),
        branch: row.branch.clone(),
        status: latest.as_ref().map(|d| d.deployment.status.as_str().to_owned()),
        commit: latest.and_then(|d| d.deployment.commit.map(|c| c.sha)),
        created_at: row.created_at,
    })
}

fn parent_of(ctx: &ToolContext, app: &ResourceRef) -> Result<App, ToolError> {
    let parent = ctx.store().app_find(app)?;
    if ctx.store().preview_of(&parent.id)?.is_some() {
        return Err(ToolError::invalid(format!(
            "`{}` is itself a preview; give the app it previews",
            parent.name
        )));
    }
    Ok(parent)
}

#[async_trait]
impl Tool for PreviewList {
    type Input = PreviewListInput;
    type Output = PreviewListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "preview_list",
            title: "List an app's previews",
            description: "List the preview apps of an app's open pull/merge requests: number, app, URL, branch, \
                          the latest deployment's status and commit.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/previews")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: PreviewListInput) -> Result<PreviewListOutput, ToolError> {
        let parent = parent_of(ctx, &input.app)?;
        let previews = ctx
            .store()
            .preview_list(&parent.id)?
            .iter()
            .map(|r| view(ctx, r))
            .collect::<Result<_, _>>()?;
        Ok(PreviewListOutput { previews })
    }
}

#[async_trait]
impl Tool for PreviewDeploy {
    type Input = PreviewDeployInput;
    type Output = PreviewDeployOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "preview_deploy",
            title: "Deploy a preview of a pull request",
            description: "Deploy a pull/merge request's commit as the preview app `pr-<number>-<app>` at its own \
                          URL, made on first use with the parent's settings, environment and repository (never its \
                          domains); change the preview's environment with env_set to override. At most 5 previews \
                          per app. The git webhook calls this for opened and updated requests.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/previews")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: PreviewDeployInput) -> Result<PreviewDeployOutput, ToolError> {
        let parent = parent_of(ctx, &input.app)?;
        let Some(source) = ctx.store().git_source_get(&parent.id)? else {
            return Err(ToolError::conflict(format!(
                "app `{}` has no git repository (app_git_set): previews build its pull requests",
                parent.name
            )));
        };
        let rows = ctx.store().preview_list(&parent.id)?;
        let (app, created) = match rows.iter().find(|r| r.number == input.number) {
            Some(row) => (ctx.store().app_find(&ResourceRef::App(row.app_id.clone()))?, false),
            None => {
                if rows.len() >= MAX_PREVIEWS_PER_APP {
                    return Err(ToolError::conflict(format!(
                        "app `{}` has {MAX_PREVIEWS_PER_APP} previews, the most it may have: close one first",
                        parent.name
                    )));
                }
                (create(ctx, &parent, &input).await?, true)
            }
        };
        let mut src = source;
        if let Some(branch) = &input.branch {
            src.branch = branch.clone();
        }
        src.updated_at = Timestamp::now();
        // The parent's repository and credentials as they are now: a token never follows a
        // URL it was not given for.
        copy_secrets(ctx, &parent, &app)?;
        ctx.store().git_source_put(&app.id, &src, None)?;
        let plan = crate::deploy::GitPlan {
            commit: input.commit.clone(),
        };
        let dep = ctx
            .deployer()
            .deploy(
                &app,
                crate::deploy::Source::Git(plan),
                super::deployments::trigger_of(ctx.adapter),
                &ctx.initiator(),
                Some(format!("preview of #{} of {}", input.number, parent.name)),
            )
            .await?;
        Ok(PreviewDeployOutput {
            url: ctx.services.settings.app_url(app.name.as_str()),
            preview: app.name.to_string(),
            deployment_id: dep.id,
            created,
        })
    }
}

/// Makes the preview app: the parent's settings, environment (re-sealed for the new app),
/// repository and its secrets; no domains.
async fn create(ctx: &ToolContext, parent: &App, input: &PreviewDeployInput) -> Result<App, ToolError> {
    let name = preview_name(input.number, &parent.name)?;
    let store = ctx.store();
    let app = store.app_insert(
        &parent.project_id,
        &name,
        parent.port,
        None,
        &format!("Preview of pull request #{} of {}", input.number, parent.name),
    )?;
    let copied = (|| -> Result<(), ToolError> {
        store.app_update(
            &app.id,
            &AppChanges {
                health: Some(&parent.health),
                memory_mb: parent.memory_mb,
                cpus: parent.cpus,
                restart_policy: Some(parent.restart_policy.as_str()),
                ..Default::default()
            },
        )?;
        let key = &ctx.services.master_key;
        for var in store.env_list(&parent.id)? {
            let plain = key
                .open(&var.sealed, &env_context(&parent.id, &var.key))
                .map_err(|e| ToolError::internal(format!("environment variable {}: {e}", var.key)))?;
            key.seal_into(&plain, &env_context(&app.id, &var.key), |sealed| {
                store.env_set(&app.id, &var.key, &sealed)
            })?;
        }
        store.preview_insert(&PreviewRow {
            app_id: app.id.clone(),
            parent_id: parent.id.clone(),
            number: input.number,
            branch: input.branch.clone(),
            created_at: Timestamp::now(),
        })?;
        Ok(())
    })();
    if let Err(e) = copied {
        // All or nothing: a half-made preview goes.
        let _ = store.app_delete(&app.id);
        return Err(e);
    }
    ctx.deployer().app_created(&app);
    Ok(store.app_find(&ResourceRef::App(app.id))?)
}

/// Gives the preview the parent's current access token and deploy key (re-sealed for it),
/// or none when the parent has none.
fn copy_secrets(ctx: &ToolContext, parent: &App, app: &App) -> Result<(), ToolError> {
    let store = ctx.store();
    let key = &ctx.services.master_key;
    for (from, to) in [
        (token_setting(&parent.id), token_setting(&app.id)),
        (deploy_key_setting(&parent.id), deploy_key_setting(&app.id)),
    ] {
        match store.setting_get(&from)? {
            Some(value) => {
                let plain = key
                    .open_setting(&from, &value)
                    .map_err(|e| ToolError::internal(e.to_string()))?;
                key.seal_setting(&to, &plain, |sealed| store.setting_put(&to, &sealed))?;
            }
            None => store.setting_delete(&to)?,
        }
    }
    if let Some(public) = store.deploy_key_public(&parent.id)?
        && let Some(sealed) = store.setting_get(&deploy_key_setting(&app.id))?
    {
        store.deploy_key_put(&app.id, &public, &sealed)?;
    }
    Ok(())
}

#[async_trait]
impl Tool for PreviewClose {
    type Input = PreviewCloseInput;
    type Output = PreviewCloseOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "preview_close",
            title: "Close a preview",
            description: "Delete the preview app of a pull/merge request with everything it made (containers, \
                          route, images, deployments, environment). The git webhook calls this when the request \
                          is closed or merged. Destructive: confirm with the preview app's name.",
            safety: Safety::Destructive,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}/previews")),
            idempotent: true,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &PreviewCloseInput) -> Result<String, ToolError> {
        let parent = parent_of(ctx, &input.app)?;
        Ok(preview_name(input.number, &parent.name)?.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: PreviewCloseInput) -> Result<PreviewCloseOutput, ToolError> {
        let parent = parent_of(ctx, &input.app)?;
        let Some(row) = ctx
            .store()
            .preview_list(&parent.id)?
            .into_iter()
            .find(|r| r.number == input.number)
        else {
            return Ok(PreviewCloseOutput { deleted: None });
        };
        let app = ctx.store().app_find(&ResourceRef::App(row.app_id))?;
        if let Some(active) = ctx.store().deployment_active(&app.id)? {
            let _ = ctx.deployer().cancel(&active.id);
        }
        ctx.deployer().app_removed(&app).await?;
        ctx.store().app_delete(&app.id)?;
        ctx.edge().domains_changed();
        ctx.edge().state().metrics.forget(app.name.as_str());
        Ok(PreviewCloseOutput {
            deleted: Some(app.name.to_string()),
        })
    }
}

//! Deployment tools: deploy, inspect, list, cancel, roll back.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::diagnosis::Diagnosis;
use crate::domain::{Deployment, DeploymentId, ResourceRef, Trigger, UntrustedText, UploadId};
use crate::registry::HttpMethod::{Get, Post};
use crate::registry::{
    Adapter, HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, Transport,
};
use crate::store::AppChanges;

pub struct AppDeploy;
pub struct DeploymentGet;
pub struct DeploymentList;
pub struct DeploymentCancel;
pub struct AppRollback;

pub(crate) fn trigger_of(adapter: Adapter) -> Trigger {
    match adapter {
        Adapter::Rest => Trigger::Api,
        Adapter::Mcp => Trigger::Mcp,
        Adapter::Cli => Trigger::Cli,
        Adapter::Chat => Trigger::Chat,
        Adapter::Schedule => Trigger::Schedule,
        Adapter::System => Trigger::System,
        Adapter::Hook => Trigger::Hook,
        Adapter::Git => Trigger::GitPush,
        Adapter::Dashboard => Trigger::Dashboard,
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppDeployInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Deploy this image (and make it the app's image for later redeploys).
    #[serde(default)]
    #[schemars(length(min = 1, max = 255), regex(pattern = crate::domain::names::IMAGE_REF_PATTERN))]
    pub image: Option<String>,
    /// Deploy an uploaded archive: the id the upload endpoint returned.
    #[serde(default)]
    pub upload: Option<UploadId>,
    /// Deploy this commit of the app's git repository (or one pushed to sh0); without
    /// `image` or `upload`, an app with a repository deploys its branch's head.
    #[serde(default)]
    pub commit: Option<crate::domain::CommitSha>,
    /// How the deployment was started, when an upload endpoint calls on a client's behalf.
    #[serde(default)]
    pub triggered_by: Option<Trigger>,
}

#[derive(Serialize, JsonSchema)]
pub struct DeployOutput {
    pub deployment_id: DeploymentId,
    pub app_id: String,
    pub app: String,
    pub status: String,
    /// Where the app answers once the deployment is running.
    pub url: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentGetInput {
    /// Deployment id.
    pub deployment: DeploymentId,
    /// Return log lines from this position on (use `next_offset` of the previous answer to poll).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub log_offset: Option<i64>,
    /// At most this many log lines (default 1000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub log_limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct DeploymentGetOutput {
    pub deployment: Deployment,
    /// Build and deploy log lines from `log_offset` on.
    pub log: Vec<UntrustedText>,
    /// Pass as `log_offset` to get the lines after these.
    pub next_offset: i64,
    /// Whether the deployment is still in progress.
    pub active: bool,
    /// For a failed deployment: the analyzer's report of why, made when it failed.
    pub diagnosis: Option<Diagnosis>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentListInput {
    /// App id or name.
    pub app: ResourceRef,
    /// How many, newest first (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct DeploymentListOutput {
    pub deployments: Vec<Deployment>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRefInput {
    /// Deployment id.
    pub deployment: DeploymentId,
}

#[derive(Serialize, JsonSchema)]
pub struct DeploymentCancelOutput {
    pub deployment_id: DeploymentId,
    /// False when the deployment had already finished.
    pub cancelled: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRollbackInput {
    /// App id or name.
    pub app: ResourceRef,
    /// The deployment whose image to run again (default: the one before the current).
    #[serde(default)]
    pub deployment: Option<DeploymentId>,
}

pub(super) fn deploy_output(ctx: &ToolContext, app_name: &str, dep: Deployment) -> DeployOutput {
    DeployOutput {
        app_id: dep.app_id.to_string(),
        app: app_name.to_owned(),
        status: dep.status.as_str().into(),
        url: ctx.services.settings.app_url(app_name),
        deployment_id: dep.id,
    }
}

#[async_trait]
impl Tool for AppDeploy {
    type Input = AppDeployInput;
    type Output = DeployOutput;

    fn transports(&self) -> &'static [Transport] {
        &[
            Transport::Upload {
                path: "/api/v1/uploads",
            },
            Transport::Upload {
                path: "/api/v1/apps/upload",
            },
            Transport::Upload {
                path: "/api/v1/apps/{app}/upload",
            },
            super::hooks::HOOK_DELIVERY,
            super::webhooks::WEBHOOK_DELIVERY,
            Transport::GitPush {
                path: "/git/{app}/git-receive-pack",
            },
        ]
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_deploy",
            title: "Deploy an app",
            description: "Start a deployment of an app: an uploaded archive (`upload`), an image (`image`), a commit \
                          of its git repository (`commit`), or, with none, its current source again (the head of its \
                          git branch when it has a repository). Builds, starts the new version beside the old one, \
                          switches traffic once its health check passes, then stops the old one; a failure keeps \
                          the old version serving. Returns at once with the deployment id: follow it with \
                          deployment_get. At most one deployment per app runs at a time (conflict otherwise).",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/deploy")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppDeployInput) -> Result<DeployOutput, ToolError> {
        let given = [input.image.is_some(), input.upload.is_some(), input.commit.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ToolError::invalid(
                "give one of `image`, `upload` or `commit`, not several",
            ));
        }
        let app = ctx.store().app_find(&input.app)?;
        // A client may say how a person started it (`sh0 push`); what sh0 starts on its own
        // (rollbacks, restarts, schedules, maintenance) is never claimed by a caller.
        let trigger = match input.triggered_by {
            Some(
                t
                @ (Trigger::CliPush | Trigger::Cli | Trigger::Api | Trigger::Mcp | Trigger::Chat | Trigger::Dashboard),
            ) => t,
            Some(t) => {
                return Err(ToolError::invalid(format!(
                    "triggered_by: `{}` is set by sh0 itself, not by a caller",
                    t.as_str()
                )));
            }
            None => trigger_of(ctx.adapter),
        };
        let by = ctx.initiator();
        // Say "busy" before unpacking anything.
        ctx.store().deployment_ensure_idle(&app.id)?;
        let deployer = ctx.deployer();
        let dep = if let Some(upload) = &input.upload {
            let prepared = deployer.prepare_upload(upload, &ctx.principal.account_key()).await?;
            if let Some(d) = &prepared.generated
                && app.port.is_none()
            {
                ctx.store().app_update(
                    &app.id,
                    &AppChanges {
                        port: Some(d.port),
                        ..Default::default()
                    },
                )?;
            }
            let app = ctx.store().app_find(&ResourceRef::App(app.id.clone()))?;
            let note = prepared
                .generated
                .as_ref()
                .map(|d| format!("detected {}; generated a Dockerfile (port {})", d.label(), d.port));
            deployer
                .deploy(
                    &app,
                    crate::deploy::Source::Context(prepared.context),
                    trigger,
                    &by,
                    note,
                )
                .await?
        } else if let Some(image) = &input.image {
            let dep = deployer
                .deploy(&app, crate::deploy::Source::Image(image.clone()), trigger, &by, None)
                .await?;
            ctx.store().app_update(
                &app.id,
                &AppChanges {
                    image: Some(image),
                    ..Default::default()
                },
            )?;
            dep
        } else if let Some(commit) = &input.commit {
            let plan = crate::deploy::GitPlan {
                commit: Some(commit.clone()),
            };
            deployer
                .deploy(&app, crate::deploy::Source::Git(plan), trigger, &by, None)
                .await?
        } else {
            deployer.redeploy(&app, trigger, &by).await?
        };
        Ok(deploy_output(ctx, app.name.as_str(), dep))
    }
}

#[async_trait]
impl Tool for DeploymentGet {
    type Input = DeploymentGetInput;
    type Output = DeploymentGetOutput;

    fn transports(&self) -> &'static [Transport] {
        &[Transport::LogStream {
            path: "/api/v1/deployments/{deployment}/logs/ws",
            job: "/deployment/job",
        }]
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deployment_get",
            title: "Get a deployment",
            description: "Get a deployment's status and its build/deploy log from `log_offset` on. Poll with \
                          `log_offset: next_offset` until `active` is false; a failed deployment's `error` says why \
                          and its `diagnosis` names the cause with evidence and fixes.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::deployment("deployment"),
            http: Some(HttpRoute::new(Get, "/api/v1/deployments/{deployment}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DeploymentGetInput) -> Result<DeploymentGetOutput, ToolError> {
        let row = ctx.store().deployment_get(&input.deployment)?;
        let from = input.log_offset.unwrap_or(0);
        let lines = match &row.deployment.job {
            Some(job) => ctx.store().job_log_read(job, from, input.log_limit.unwrap_or(1000))?,
            None => Vec::new(),
        };
        let next_offset = lines.last().map(|l| l.pos + 1).unwrap_or(from);
        Ok(DeploymentGetOutput {
            diagnosis: ctx.store().deployment_diagnosis(&row.deployment.id)?,
            active: row.deployment.status.is_active(),
            deployment: row.deployment,
            log: lines.into_iter().map(|l| UntrustedText(l.line)).collect(),
            next_offset,
        })
    }
}

#[async_trait]
impl Tool for DeploymentList {
    type Input = DeploymentListInput;
    type Output = DeploymentListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deployment_list",
            title: "List deployments",
            description: "List an app's deployments, newest first, with status, source, image and trigger.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/deployments")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DeploymentListInput) -> Result<DeploymentListOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let rows = ctx.store().deployment_list(&app.id, input.limit.unwrap_or(20))?;
        Ok(DeploymentListOutput {
            deployments: rows.into_iter().map(|r| r.deployment).collect(),
        })
    }
}

#[async_trait]
impl Tool for DeploymentCancel {
    type Input = DeploymentRefInput;
    type Output = DeploymentCancelOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deployment_cancel",
            title: "Cancel a deployment",
            description: "Cancel a deployment in progress. The version already serving keeps serving; the \
                          cancelled build or container is removed.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::deployment("deployment"),
            http: Some(HttpRoute::new(Post, "/api/v1/deployments/{deployment}/cancel")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DeploymentRefInput) -> Result<DeploymentCancelOutput, ToolError> {
        let cancelled = ctx.deployer().cancel(&input.deployment)?;
        Ok(DeploymentCancelOutput {
            deployment_id: input.deployment,
            cancelled,
        })
    }
}

#[async_trait]
impl Tool for AppRollback {
    type Input = AppRollbackInput;
    type Output = DeployOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_rollback",
            title: "Roll an app back",
            description: "Run an earlier deployment's image again (default: the one before the current), as a new \
                          health-gated deployment. Only recent deployments keep their images.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/rollback")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRollbackInput) -> Result<DeployOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let dep = ctx
            .deployer()
            .rollback(&app, input.deployment.as_ref(), &ctx.initiator())
            .await?;
        Ok(deploy_output(ctx, app.name.as_str(), dep))
    }
}

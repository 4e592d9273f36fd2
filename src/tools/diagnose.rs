//! `deployment_diagnose`: why a deployment failed or an app misbehaves, from the facts sh0
//! has (no model): the analyzer's findings, each with its evidence and the tool calls that
//! fix it.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::domain::diagnosis::{Diagnosis, Explanation};
use crate::domain::{DeploymentId, DeploymentStatus, ResourceRef, Timestamp, UntrustedText};
use crate::registry::HttpMethod::{Get, Post};
use crate::registry::assistant::Assistant;
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct DeploymentDiagnose;
pub struct DeploymentExplain;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentDiagnoseInput {
    /// App id or name.
    pub app: ResourceRef,
    /// One of its deployments (default: its newest failed one if that came after the
    /// serving one, else the serving one, looked at live).
    #[serde(default)]
    pub deployment: Option<DeploymentId>,
}

#[async_trait]
impl Tool for DeploymentDiagnose {
    type Input = DeploymentDiagnoseInput;
    type Output = Diagnosis;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deployment_diagnose",
            title: "Diagnose a deployment",
            description: "Explain why an app's deployment failed or why the app misbehaves, from what sh0 saw: \
                          build log, exit code, out-of-memory kills, restarts, health check answers, the sockets \
                          the app listens on (wrong port, 127.0.0.1), variables its log says are missing, and \
                          settings changed since the last deployment that worked. Each finding cites its \
                          evidence and proposes tool calls that fix it. Reads only; a failed deployment's report \
                          is also in deployment_get.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/diagnosis")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DeploymentDiagnoseInput) -> Result<Diagnosis, ToolError> {
        diagnose(ctx, &input).await
    }
}

async fn diagnose(ctx: &ToolContext, input: &DeploymentDiagnoseInput) -> Result<Diagnosis, ToolError> {
    let app = ctx.store().app_find(&input.app)?;
    let deployer = ctx.deployer();
    match &input.deployment {
        Some(id) => {
            let row = ctx
                .store()
                .deployment_get(id)
                .ok()
                .filter(|r| r.deployment.app_id == app.id);
            if row.is_none() {
                return Err(ToolError::not_found(format!(
                    "deployment `{id}` not found for app `{}`",
                    app.name
                )));
            }
            Ok(deployer.diagnose(id).await?)
        }
        None => Ok(deployer.diagnose_app(&ResourceRef::App(app.id)).await?),
    }
}

#[async_trait]
impl Tool for DeploymentExplain {
    type Input = DeploymentDiagnoseInput;
    type Output = Diagnosis;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deployment_explain",
            title: "Explain a diagnosis with the model",
            description: "Have the assistant's model explain deployment_diagnose's report and investigate further, \
                          with read-only tools limited to the app's project (it can change nothing). The \
                          explanation is attached to the report (kept with a failed deployment's) and its tool \
                          calls are in a conversation of yours. Needs a model (ai_settings_set).",
            safety: Safety::Write,
            // It runs the model: the assistant's own permission, which no model holds (no
            // model starts another).
            permission: Permission::Chat,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/diagnosis/explain")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DeploymentDiagnoseInput) -> Result<Diagnosis, ToolError> {
        // Whose conversation it will be, then what, then with which model.
        let user = ctx.principal.user()?;
        let app = ctx.store().app_find(&input.app)?;
        let ai = ctx.services.ai.view()?;
        if !ai.configured {
            return Err(crate::ai::AiError::Unavailable.into());
        }
        let mut report = diagnose(ctx, &input).await?;
        let conversation = ctx
            .store()
            .conversation_create(user, &format!("Diagnosis of {} ({})", app.name, report.deployment))?;
        let assistant = Assistant::new(
            ctx.registry.clone(),
            ctx.services.clone(),
            ctx.principal.clone(),
            conversation.id.clone(),
            ctx.events.clone(),
        )?
        .read_only_in(app.project_id.clone());
        let value = serde_json::to_value(&report).map_err(ToolError::internal)?;
        let text = assistant.explain(app.name.as_str(), &value).await?;
        report.explanation = Some(Explanation {
            text: UntrustedText(text),
            model: ai.model.unwrap_or_default(),
            conversation: conversation.id,
            at: Timestamp::now(),
        });
        if report.status == DeploymentStatus::Failed {
            ctx.store().deployment_set_diagnosis(&report.deployment, &report)?;
        }
        Ok(report)
    }
}

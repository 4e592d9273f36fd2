//! Deploy hooks: a URL and a token that deploy one app when POSTed to — for a CI pipeline,
//! a forge's webhook, a cron job elsewhere. The hook acts as itself (`hook:<id>` in the
//! audit log), deploys its app and nothing else, with at most the role of the user who
//! made it (capped at `developer`, and following that user's current role).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::GeneratedKey;
use crate::domain::{HookId, ResourceName, ResourceRef, ShownOnce, Timestamp};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{
    HOOK_TOKEN_HEADER, HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, Transport,
};
use crate::store::HookRow;

/// Hooks one app may have.
pub const MAX_PER_APP: usize = 10;

pub struct HookCreate;
pub struct HookList;
pub struct HookDelete;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookCreateInput {
    /// App id or name.
    pub app: ResourceRef,
    /// A name for the hook (lowercase letters, digits, hyphens), e.g. `ci`.
    pub name: ResourceName,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookAppInput {
    /// App id or name.
    pub app: ResourceRef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookDeleteInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Hook id or name.
    #[schemars(length(min = 1, max = 64))]
    pub hook: String,
}

#[derive(Serialize, JsonSchema)]
pub struct HookCreated {
    pub hook: HookRow,
    /// POST here to deploy the app (the app's image, or its newest uploaded source).
    pub url: String,
    /// The header that must carry the token.
    pub header: &'static str,
    /// The token, shown this once: only its digest is kept.
    pub token: ShownOnce,
}

#[derive(Serialize, JsonSchema)]
pub struct HookListOutput {
    pub hooks: Vec<HookRow>,
}

#[derive(Serialize, JsonSchema)]
pub struct HookDeleted {
    pub deleted: bool,
}

#[async_trait]
impl Tool for HookCreate {
    type Input = HookCreateInput;
    type Output = HookCreated;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "hook_create",
            title: "Create a deploy hook",
            description: "Create a URL and a token that deploy this app when POSTed to (header X-Sh0-Hook-Token), \
                          for CI pipelines and forges. The hook deploys this app and nothing else, with at most \
                          your role (never above developer), and stops if you are removed. The token is shown \
                          once. At most 10 per app.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/hooks")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: HookCreateInput) -> Result<HookCreated, ToolError> {
        let maker = ctx.principal.user()?.clone();
        let app = ctx.store().app_find(&input.app)?;
        if ctx.store().hook_list(&app.id)?.len() >= MAX_PER_APP {
            return Err(ToolError::conflict(format!(
                "app `{}` has {MAX_PER_APP} hooks, the most an app may have: delete one first",
                app.name
            )));
        }
        let secret = GeneratedKey::with_prefix("sh0h_");
        let hook = HookRow {
            id: HookId::generate(),
            name: input.name,
            app_id: app.id,
            created_by: maker,
            role: ctx.principal.role.min(crate::domain::Role::Developer),
            created_at: Timestamp::now(),
            last_used_at: None,
        };
        ctx.store().hook_insert(&hook, &secret.hash)?;
        Ok(HookCreated {
            url: format!("{}/api/v1/hooks/{}", ctx.api_url(), hook.id),
            header: HOOK_TOKEN_HEADER,
            token: ShownOnce(secret.plaintext),
            hook,
        })
    }
}

#[async_trait]
impl Tool for HookList {
    type Input = HookAppInput;
    type Output = HookListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "hook_list",
            title: "List deploy hooks",
            description: "List an app's deploy hooks: who made them and when each was last used (never the tokens).",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/hooks")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: HookAppInput) -> Result<HookListOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        Ok(HookListOutput {
            hooks: ctx.store().hook_list(&app.id)?,
        })
    }
}

#[async_trait]
impl Tool for HookDelete {
    type Input = HookDeleteInput;
    type Output = HookDeleted;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "hook_delete",
            title: "Delete a deploy hook",
            description: "Delete one of an app's deploy hooks: its URL stops working at once. Confirm with the \
                          hook's name.",
            safety: Safety::Destructive,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}/hooks/{hook}")),
            idempotent: true,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &HookDeleteInput) -> Result<String, ToolError> {
        Ok(find(ctx, input)?.name.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: HookDeleteInput) -> Result<HookDeleted, ToolError> {
        let hook = find(ctx, &input)?;
        ctx.store().hook_delete(&hook.app_id, &hook.id)?;
        Ok(HookDeleted { deleted: true })
    }
}

/// The hook of the input's app named or numbered `hook`.
fn find(ctx: &ToolContext, input: &HookDeleteInput) -> Result<HookRow, ToolError> {
    let app = ctx.store().app_find(&input.app)?;
    ctx.store()
        .hook_list(&app.id)?
        .into_iter()
        .find(|h| h.id.as_str() == input.hook || h.name.as_str() == input.hook)
        .ok_or_else(|| {
            ToolError::not_found(format!(
                "app `{}` has no hook `{}`",
                app.name,
                input.hook.chars().take(64).collect::<String>()
            ))
        })
}

/// The delivery endpoint, declared beside the tool it calls (see `AppDeploy::transports`).
pub const HOOK_DELIVERY: Transport = Transport::Hook {
    path: "/api/v1/hooks/{hook}",
};

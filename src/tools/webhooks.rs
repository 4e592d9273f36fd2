//! An app's git webhook: `webhook_get` gives the URL and secret to paste into the forge
//! (GitHub, GitLab, Gitea/Forgejo, Bitbucket, or any sender of sh0's generic scheme), and
//! `webhook_deliveries` lists what arrived and what each started. The webhook acts as a
//! deploy hook of the app (`hook:<id>` in the audit log), with at most the role of the
//! user who made it, capped at developer.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::GeneratedKey;
use crate::domain::{HookId, ResourceName, ResourceRef, Role, ShownOnce, Timestamp};
use crate::registry::HttpMethod::{Get, Post};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, Transport};
use crate::store::{Delivery, HookRow, webhook_secret_setting};

pub struct WebhookGet;
pub struct WebhookRotate;
pub struct WebhookDeliveries;

/// The endpoint forges deliver to, declared by `app_deploy` (see `registry/webhooks.rs`).
pub const WEBHOOK_DELIVERY: Transport = Transport::Webhook {
    path: "/api/v1/apps/{app}/webhook",
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookAppInput {
    /// App id or name.
    pub app: ResourceRef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDeliveriesInput {
    /// App id or name.
    pub app: ResourceRef,
    /// How many, newest first (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct WebhookView {
    pub app: String,
    /// The payload URL to give the forge (content type `application/json`).
    pub url: String,
    /// Whether the webhook has a secret (webhook_rotate makes one): without, every delivery
    /// is refused.
    pub configured: bool,
    /// How to set it up on each forge.
    pub setup: String,
    pub created_at: Option<Timestamp>,
}

#[derive(Serialize, JsonSchema)]
pub struct WebhookRotated {
    pub app: String,
    /// The payload URL to give the forge (content type `application/json`).
    pub url: String,
    /// The secret, shown this once: the forge signs with it (GitHub, Gitea/Forgejo,
    /// Bitbucket, generic) or sends it as the token (GitLab).
    pub secret: ShownOnce,
    pub setup: String,
    pub created_at: Timestamp,
}

#[derive(Serialize, JsonSchema)]
pub struct WebhookDeliveriesOutput {
    pub deliveries: Vec<Delivery>,
}

const SETUP: &str = "GitHub / Gitea / Forgejo: Settings > Webhooks > Add: payload URL, content type \
                     application/json, the secret; events: push and pull requests. GitLab: Settings > Webhooks: \
                     the URL, the secret as Secret token; triggers: push events and merge request events. \
                     Bitbucket: Repository settings > Webhooks: the URL and the secret; triggers: push and pull \
                     request created/updated/merged/declined. Others: POST JSON {\"ref\", \"after\"} with \
                     X-Sh0-Event: push, X-Sh0-Delivery: <unique id> and X-Sh0-Signature: sha256=<hex HMAC-SHA256 \
                     of the body with the secret>.";

fn webhook_url(ctx: &ToolContext, app: &crate::domain::App) -> String {
    format!("{}/api/v1/apps/{}/webhook", ctx.api_url(), app.id)
}

#[async_trait]
impl Tool for WebhookGet {
    type Input = WebhookAppInput;
    type Output = WebhookView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "webhook_get",
            title: "Get an app's git webhook",
            description: "Get the URL to paste into a forge's webhook settings (GitHub, GitLab, Gitea/Forgejo, \
                          Bitbucket, or sh0's generic scheme) so that a push to the app's branch deploys it and a \
                          pull/merge request gets a preview app, whether it has a secret, and how to set it up. The \
                          secret is made (and shown once) by webhook_rotate.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/webhook/settings")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: WebhookAppInput) -> Result<WebhookView, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let hook = match ctx.store().git_webhook_hook(&app.id)? {
            Some(id) => ctx.store().hook_get(&id)?.map(|(h, _)| h),
            None => None,
        };
        Ok(WebhookView {
            app: app.name.to_string(),
            url: webhook_url(ctx, &app),
            configured: hook.is_some(),
            setup: SETUP.into(),
            created_at: hook.map(|h| h.created_at),
        })
    }
}

#[async_trait]
impl Tool for WebhookRotate {
    type Input = WebhookAppInput;
    type Output = WebhookRotated;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "webhook_rotate",
            title: "Make a new webhook secret",
            description: "Make the app's git webhook secret (the first time) or a new one (the old one stops \
                          working at once), shown this once, with the URL to give the forge. Deliveries are \
                          verified by the forge's signature, deduplicated, and listed by webhook_deliveries. The \
                          webhook acts with at most your role (never above developer).",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/webhook/settings")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: WebhookAppInput) -> Result<WebhookRotated, ToolError> {
        let maker = ctx.principal.user()?.clone();
        let app = ctx.store().app_find(&input.app)?;
        if let Some(old) = ctx.store().git_webhook_hook(&app.id)? {
            ctx.store().hook_delete(&app.id, &old)?;
        }
        let secret = GeneratedKey::with_prefix("sh0w_");
        let hook = HookRow {
            id: HookId::generate(),
            name: ResourceName::parse("git-webhook").map_err(ToolError::invalid)?,
            app_id: app.id.clone(),
            created_by: maker,
            role: ctx.principal.role.min(Role::Developer),
            created_at: Timestamp::now(),
            last_used_at: None,
        };
        ctx.store().hook_insert(&hook, &secret.hash)?;
        ctx.services.master_key.seal_setting(
            &webhook_secret_setting(&app.id),
            secret.plaintext.as_bytes(),
            |sealed| ctx.store().git_webhook_put(&app.id, &hook.id, &sealed),
        )?;
        Ok(WebhookRotated {
            app: app.name.to_string(),
            url: webhook_url(ctx, &app),
            secret: ShownOnce(secret.plaintext),
            setup: SETUP.into(),
            created_at: hook.created_at,
        })
    }
}

#[async_trait]
impl Tool for WebhookDeliveries {
    type Input = WebhookDeliveriesInput;
    type Output = WebhookDeliveriesOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "webhook_deliveries",
            title: "List an app's webhook deliveries",
            description: "List the deliveries the app's git webhook received, newest first: time, forge, event, \
                          delivery id, the verdict on its signature (accepted, unsigned, bad_signature, replayed, \
                          too_large, malformed) and what it started (a deployment, a preview) or why nothing.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/webhook/deliveries")),
            idempotent: true,
        }
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        input: WebhookDeliveriesInput,
    ) -> Result<WebhookDeliveriesOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        Ok(WebhookDeliveriesOutput {
            deliveries: ctx.store().delivery_list(&app.id, input.limit.unwrap_or(50))?,
        })
    }
}

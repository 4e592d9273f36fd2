//! An app's git source: `app_git_set` / `app_git_get` / `app_git_unset`, and its SSH deploy
//! key (`deploy_key_get`). The access token and the deploy key's private half are sealed
//! and never shown; the key's public half and the pinned host keys are.

use async_trait::async_trait;
use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{GitBranch, GitUrl, RepoPath, ResourceRef, SecretString, Timestamp};
use crate::registry::HttpMethod::{Delete, Get, Post, Put};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{GitSource, deploy_key_setting, token_setting};

pub struct AppGitSet;
pub struct AppGitGet;
pub struct AppGitUnset;
pub struct DeployKeyGet;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppGitSetInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Repository URL: `https://host/owner/repo.git`, or SSH (`git@host:owner/repo.git`,
    /// `ssh://git@host:port/owner/repo.git`) with the app's deploy key.
    pub url: GitUrl,
    /// The branch to deploy (default `main`).
    #[serde(default)]
    pub branch: Option<GitBranch>,
    /// Build from this folder of the repository (a monorepo's app).
    #[serde(default)]
    pub subdir: Option<RepoPath>,
    /// The Dockerfile to build, relative to `subdir` (default: `Dockerfile`, or stack
    /// detection when there is none).
    #[serde(default)]
    pub dockerfile: Option<RepoPath>,
    /// Fetch submodules too (over https or ssh only).
    #[serde(default)]
    pub submodules: Option<bool>,
    /// An access token for a private HTTPS repository (sealed; never shown again). An empty
    /// string forgets the kept one; absent keeps it.
    #[serde(default)]
    pub token: Option<SecretString>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppRefInput {
    /// App id or name.
    pub app: ResourceRef,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployKeyInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Make a new key pair (the old public key stops working once removed from the forge).
    #[serde(default)]
    pub rotate: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
pub struct AppGitView {
    pub app: String,
    /// None when the app has no repository.
    pub source: Option<GitSource>,
    /// The deploy key's public half, to add (read-only) to the repository, when the app has one.
    pub deploy_key: Option<String>,
    /// SSH host keys pinned when sh0 first reached the remote (`known_hosts` lines): a
    /// different key later is refused.
    pub pinned_host_keys: Vec<String>,
    /// `git remote add sh0 <this>`, then `git push sh0 main` deploys (an API key as password).
    pub push_url: String,
}

#[derive(Serialize, JsonSchema)]
pub struct AppGitUnsetOutput {
    /// False when the app had no repository.
    pub removed: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct DeployKeyOutput {
    pub app: String,
    /// `ssh-ed25519 AAAA… sh0 deploy key for <app>`: add it to the repository as a
    /// read-only deploy key.
    pub public_key: String,
    /// Whether it was made by this call.
    pub created: bool,
}

fn view(ctx: &ToolContext, app: &crate::domain::App) -> Result<AppGitView, ToolError> {
    Ok(AppGitView {
        app: app.name.to_string(),
        source: ctx.store().git_source_get(&app.id)?,
        deploy_key: ctx.store().deploy_key_public(&app.id)?,
        pinned_host_keys: ctx.deployer().pinned_host_keys(&app.id),
        push_url: format!("{}/git/{}.git", ctx.api_url(), app.name),
    })
}

/// Seals `value` as the setting `key` (the key is the sealing context).
pub(super) fn seal_setting(ctx: &ToolContext, key: &str, value: &[u8]) -> String {
    ctx.services.master_key.seal_into(value, key, |sealed| {
        base64::engine::general_purpose::STANDARD.encode(sealed)
    })
}

/// Makes the app's deploy key when it has none (or `rotate`); returns whether it made one.
async fn ensure_deploy_key(ctx: &ToolContext, app: &crate::domain::App, rotate: bool) -> Result<bool, ToolError> {
    if !rotate && ctx.store().deploy_key_public(&app.id)?.is_some() {
        return Ok(false);
    }
    let key = ctx
        .deployer()
        .generate_deploy_key(&format!("sh0 deploy key for {}", app.name))
        .await?;
    let sealed = seal_setting(ctx, &deploy_key_setting(&app.id), &key.private);
    ctx.store().deploy_key_put(&app.id, &key.public, &sealed)?;
    Ok(true)
}

#[async_trait]
impl Tool for AppGitSet {
    type Input = AppGitSetInput;
    type Output = AppGitView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_git_set",
            title: "Deploy an app from a git repository",
            description: "Set the git repository an app deploys from: URL, branch (default main), folder for \
                          monorepos, Dockerfile path (or stack detection), submodules, and a token for private \
                          HTTPS repositories. An SSH URL gets the app a deploy key (shown: add it to the \
                          repository). Then app_deploy deploys the branch head or a given commit, and webhook_get \
                          gives the URL that deploys on every push. Does not deploy by itself.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Put, "/api/v1/apps/{app}/git")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppGitSetInput) -> Result<AppGitView, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        if input.token.is_some() && input.url.is_ssh() {
            return Err(ToolError::invalid(
                "a token is for HTTPS repositories; an SSH repository uses the app's deploy key",
            ));
        }
        if input.token.as_ref().is_some_and(|t| !t.expose().is_empty()) && !input.url.keeps_secrets() {
            return Err(ToolError::invalid(
                "a token travels only over https (or plain http to this machine): use the https:// URL",
            ));
        }
        let before = ctx.store().git_source_get(&app.id)?;
        let now = Timestamp::now();
        let source = GitSource {
            url: input.url,
            branch: match input.branch {
                Some(b) => b,
                None => GitBranch::parse("main").map_err(ToolError::invalid)?,
            },
            subdir: input.subdir,
            dockerfile: input.dockerfile,
            submodules: input.submodules.unwrap_or(false),
            has_token: false,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now,
        };
        if source.url.is_ssh() {
            ensure_deploy_key(ctx, &app, false).await?;
        }
        let token = match &input.token {
            Some(t) if t.expose().is_empty() => Some(None),
            Some(t) => Some(Some(seal_setting(ctx, &token_setting(&app.id), t.expose().as_bytes()))),
            // A token belongs to its host: a new URL forgets it.
            None if before.as_ref().is_some_and(|b| b.url != source.url) => Some(None),
            None => None,
        };
        let moved = before.as_ref().is_some_and(|b| b.url != source.url);
        ctx.store().git_source_put(&app.id, &source, token)?;
        if moved {
            ctx.deployer().unpin_host_keys(&app.id);
        }
        view(ctx, &app)
    }
}

#[async_trait]
impl Tool for AppGitGet {
    type Input = AppRefInput;
    type Output = AppGitView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_git_get",
            title: "Get an app's git repository",
            description: "Get the git repository an app deploys from (never its token), its deploy key's public \
                          half, the SSH host keys sh0 pinned, and the URL to `git push` to.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/git")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<AppGitView, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        view(ctx, &app)
    }
}

#[async_trait]
impl Tool for AppGitUnset {
    type Input = AppRefInput;
    type Output = AppGitUnsetOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_git_unset",
            title: "Stop deploying an app from git",
            description: "Forget an app's git repository and its token (the running version keeps serving; \
                          redeploys use its image or newest upload). The deploy key and webhook stay until the \
                          app is deleted.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}/git")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<AppGitUnsetOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let removed = ctx.store().git_source_delete(&app.id)?;
        ctx.deployer().unpin_host_keys(&app.id);
        Ok(AppGitUnsetOutput { removed })
    }
}

#[async_trait]
impl Tool for DeployKeyGet {
    type Input = DeployKeyInput;
    type Output = DeployKeyOutput;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["deploy-key", "get"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deploy_key_get",
            title: "Get an app's deploy key",
            description: "Get the public half of the app's SSH deploy key (an ed25519 key sh0 made for this app; \
                          the private half is sealed and never leaves sh0), making it on first use. Add it to the \
                          repository as a read-only deploy key. `rotate: true` makes a new pair.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/deploy-key")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: DeployKeyInput) -> Result<DeployKeyOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let created = ensure_deploy_key(ctx, &app, input.rotate.unwrap_or(false)).await?;
        let public_key = ctx
            .store()
            .deploy_key_public(&app.id)?
            .ok_or_else(|| ToolError::internal("the deploy key was not kept"))?;
        Ok(DeployKeyOutput {
            app: app.name.to_string(),
            public_key,
            created,
        })
    }
}

//! An app's git source: `app_git_set` / `app_git_get` / `app_git_unset`, and its SSH deploy
//! key (`deploy_key_get`). The access token and the deploy key's private half are sealed
//! and never shown; the key's public half and the pinned host keys are.

use async_trait::async_trait;
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
pub struct DeployKeyRotate;

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
    /// read-only deploy key. None when the app has none yet.
    pub public_key: Option<String>,
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

/// Makes the app's deploy key when it has none (or `rotate`); returns whether it made one.
async fn ensure_deploy_key(ctx: &ToolContext, app: &crate::domain::App, rotate: bool) -> Result<bool, ToolError> {
    if !rotate && ctx.store().deploy_key_public(&app.id)?.is_some() {
        return Ok(false);
    }
    let key = ctx
        .deployer()
        .generate_deploy_key(&format!("sh0 deploy key for {}", app.name))
        .await?;
    ctx.services
        .master_key
        .seal_setting(&deploy_key_setting(&app.id), &key.private, |sealed| {
            ctx.store().deploy_key_put(&app.id, &key.public, &sealed)
        })?;
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
        let moved = before.as_ref().is_some_and(|b| b.url != source.url);
        match &input.token {
            // Sealed and written while no key rotation can run between the two.
            Some(t) if !t.expose().is_empty() => {
                ctx.services
                    .master_key
                    .seal_setting(&token_setting(&app.id), t.expose().as_bytes(), |sealed| {
                        ctx.store().git_source_put(&app.id, &source, Some(Some(sealed)))
                    })?
            }
            // An empty token forgets it; a token belongs to its host: a new URL forgets it.
            Some(_) => ctx.store().git_source_put(&app.id, &source, Some(None))?,
            None if moved => ctx.store().git_source_put(&app.id, &source, Some(None))?,
            None => ctx.store().git_source_put(&app.id, &source, None)?,
        }
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
    type Input = AppRefInput;
    type Output = DeployKeyOutput;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["deploy-key", "get"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deploy_key_get",
            title: "Get an app's deploy key",
            description: "Get the public half of the app's SSH deploy key (an ed25519 key sh0 made for this app when \
                          it was given an SSH repository, or by deploy_key_rotate; the private half is sealed and \
                          never leaves sh0). Add it to the repository as a read-only deploy key.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/deploy-key")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<DeployKeyOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        Ok(DeployKeyOutput {
            public_key: ctx.store().deploy_key_public(&app.id)?,
            app: app.name.to_string(),
        })
    }
}

#[async_trait]
impl Tool for DeployKeyRotate {
    type Input = AppRefInput;
    type Output = DeployKeyOutput;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["deploy-key", "rotate"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "deploy_key_rotate",
            title: "Make a new deploy key",
            description: "Make a new SSH deploy key pair for the app (ed25519; the private half sealed) in place of \
                          the old one, and return its public half to add to the repository (remove the old one \
                          there). Clones use the new key at once.",
            safety: Safety::Write,
            permission: Permission::AppsWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Post, "/api/v1/apps/{app}/deploy-key")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppRefInput) -> Result<DeployKeyOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        ensure_deploy_key(ctx, &app, true).await?;
        Ok(DeployKeyOutput {
            public_key: ctx.store().deploy_key_public(&app.id)?,
            app: app.name.to_string(),
        })
    }
}

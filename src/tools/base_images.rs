//! The base images of generated Dockerfiles, per role: see them, and point them at another
//! image (a private registry's mirror, a pinned digest) without restarting the server.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::deploy::{BaseImageView, BaseImagesChange};
use crate::registry::HttpMethod::{Get, Put};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct BaseImagesList;
pub struct BaseImagesSet;

/// One role's new image.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseImageChoice {
    /// The role, as `base_images_list` shows it (e.g. `node`, `static`).
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[a-z][a-z0-9_-]*$"))]
    pub key: String,
    /// An image reference, e.g. `registry.local/node:22-bookworm-slim` or one pinned by digest.
    #[schemars(length(min = 1, max = 255), regex(pattern = crate::domain::names::IMAGE_REF_PATTERN))]
    pub image: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaseImagesSetInput {
    /// Images to use from the next build on.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub set: Vec<BaseImageChoice>,
    /// Roles whose stored image is removed: the server's flag (or the default) applies again.
    #[serde(default)]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 32), regex(pattern = r"^[a-z][a-z0-9_-]*$"))
    )]
    pub reset: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct BaseImages {
    pub images: Vec<BaseImageView>,
}

#[async_trait]
impl Tool for BaseImagesList {
    type Input = NoInput;
    type Output = BaseImages;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["base-images", "list"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "base_images_list",
            title: "List the base images",
            description: "The image each role of a generated Dockerfile starts from (node, python, go, runtime, \
                          static, ...), and whether it is sh0's default, the server's --base-image flag or a stored \
                          setting. Projects with their own Dockerfile are not affected.",
            safety: Safety::Read,
            permission: Permission::SystemRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/settings/base-images")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<BaseImages, ToolError> {
        Ok(BaseImages {
            images: ctx.services.deployer.base_images_view()?,
        })
    }
}

#[async_trait]
impl Tool for BaseImagesSet {
    type Input = BaseImagesSetInput;
    type Output = BaseImages;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["base-images", "set"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "base_images_set",
            title: "Set base images",
            description: "Choose the image a role of generated Dockerfiles starts from, e.g. a mirror in your own \
                          registry for an air-gapped server; or reset a role to the server's flag or sh0's \
                          default. Applies from the next build; running apps are not rebuilt. All or nothing: \
                          an unknown role fails the whole change. With nothing given, shows the images.",
            safety: Safety::Write,
            permission: Permission::BuildSettings,
            target: Target::Server,
            http: Some(HttpRoute::new(Put, "/api/v1/settings/base-images")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: BaseImagesSetInput) -> Result<BaseImages, ToolError> {
        let mut change = BaseImagesChange {
            reset: input.reset,
            ..Default::default()
        };
        for c in input.set {
            if change.set.insert(c.key.clone(), c.image).is_some() {
                return Err(ToolError::invalid(format!("`{}` is given twice", c.key)));
            }
        }
        Ok(BaseImages {
            images: ctx.services.deployer.base_images_change(change)?,
        })
    }
}

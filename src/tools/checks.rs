//! `project_check`: the project health check over an uploaded source archive.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::build::check::Report;
use crate::domain::UploadId;
use crate::registry::HttpMethod::Post;
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, Transport};

pub struct ProjectCheck;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectCheckInput {
    /// An uploaded source archive: the id `POST /api/v1/uploads` returned.
    pub upload: UploadId,
}

#[async_trait]
impl Tool for ProjectCheck {
    type Input = ProjectCheckInput;
    type Output = Report;

    fn transports(&self) -> &'static [Transport] {
        &[Transport::Upload {
            path: "/api/v1/uploads",
        }]
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "project_check",
            title: "Check a project's health",
            description: "Detect an uploaded project's stack and run the health check on it: committed secrets, \
                          configuration, networking (e.g. binding 127.0.0.1), build, runtime, security (e.g. \
                          running as root), performance and hygiene. Returns a 0-100 score and findings with \
                          file, line, severity and a fix. Reads only; `sh0 check` runs the same check offline.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/checks")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ProjectCheckInput) -> Result<Report, ToolError> {
        Ok(ctx
            .deployer()
            .check_upload(&input.upload, &ctx.principal.account_key())
            .await?)
    }
}

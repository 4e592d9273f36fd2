//! `app_traffic`: what the proxy has seen of each app (requests, status classes, latency).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::ResourceRef;
use crate::proxy::metrics::AppTraffic as Traffic;
use crate::registry::HttpMethod::Get;
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct AppTraffic;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppTrafficInput {
    /// Only this app (id or name); every app that had traffic when absent.
    #[serde(default)]
    pub app: Option<ResourceRef>,
}

#[derive(Serialize, JsonSchema)]
pub struct AppTrafficOutput {
    /// Counting started when the server did (RFC 3339).
    pub since: crate::domain::Timestamp,
    pub apps: Vec<Traffic>,
}

#[async_trait]
impl Tool for AppTraffic {
    type Input = AppTrafficInput;
    type Output = AppTrafficOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "app_traffic",
            title: "App traffic",
            description: "Access metrics from the proxy since the server started: requests per app, responses by \
                          status class, errors the proxy answered itself (app down, unhealthy, too slow), and \
                          latency (mean, p50/p90/p99 and a histogram). Use it to see whether an app is being \
                          reached and how it responds.",
            safety: Safety::Read,
            permission: Permission::AppsRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/traffic")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: AppTrafficInput) -> Result<AppTrafficOutput, ToolError> {
        let app = input.app.map(|r| ctx.store().app_find(&r)).transpose()?;
        let reachable: std::collections::HashSet<String> = ctx
            .store()
            .app_list(None)?
            .into_iter()
            .filter(|a| ctx.principal.reaches(&a.project_id))
            .map(|a| a.name.to_string())
            .collect();
        Ok(AppTrafficOutput {
            since: ctx.services.started_at,
            apps: ctx
                .edge()
                .state()
                .metrics
                .snapshot(app.as_ref().map(|a| a.name.as_str()))
                .into_iter()
                .filter(|t| reachable.contains(&t.app))
                .collect(),
        })
    }
}

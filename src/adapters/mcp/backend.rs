//! Where MCP calls go: in-process dispatch (HTTP transport) or a remote server (stdio).

use rmcp::RoleServer;
use rmcp::service::RequestContext;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::ApiClient;
use crate::registry::{Adapter, Catalog, Credentials, Dispatcher, ToolError};

pub trait Backend: Send + Sync + 'static {
    /// The tools the caller may use.
    fn catalog(&self, ctx: &RequestContext<RoleServer>) -> impl Future<Output = Result<Catalog, ToolError>> + Send;
    /// Whether a tool's output carries text from apps (marked `x-sh0-untrusted`), which the
    /// adapter fences as data.
    fn untrusted_output(&self, ctx: &RequestContext<RoleServer>, name: &str) -> impl Future<Output = bool> + Send;
    /// Calls a tool; all checks happen in dispatch behind this.
    fn call(
        &self,
        ctx: &RequestContext<RoleServer>,
        name: &str,
        args: Value,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
    /// Follows a deployment's log as the caller: `{"pos", "line"}` for each line, then
    /// `{"end": true, "status", "error"}`. Admitted once, as a `deployment_get` call.
    fn follow_deployment(
        &self,
        ctx: &RequestContext<RoleServer>,
        deployment: &str,
    ) -> impl Future<Output = Result<mpsc::Receiver<Value>, ToolError>> + Send;
}

/// Calls dispatch in this process with the bearer token of the HTTP request.
pub struct LocalBackend {
    pub dispatcher: Dispatcher,
}

fn credentials(ctx: &RequestContext<RoleServer>) -> Credentials {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .map(|p| super::http::credentials_of(&p.headers))
        .unwrap_or_default()
}

impl Backend for LocalBackend {
    async fn catalog(&self, ctx: &RequestContext<RoleServer>) -> Result<Catalog, ToolError> {
        let names = self.dispatcher.visible_tools(&credentials(ctx))?;
        Ok(Catalog::of(self.dispatcher.registry(), |n| names.contains(&n)))
    }

    async fn untrusted_output(&self, _: &RequestContext<RoleServer>, name: &str) -> bool {
        self.dispatcher
            .registry()
            .get(name)
            .is_some_and(|d| has_untrusted(d.output_schema()))
    }

    async fn call(&self, ctx: &RequestContext<RoleServer>, name: &str, args: Value) -> Result<Value, ToolError> {
        self.dispatcher
            .dispatch(&credentials(ctx), Adapter::Mcp, name, args)
            .await
    }

    async fn follow_deployment(
        &self,
        ctx: &RequestContext<RoleServer>,
        deployment: &str,
    ) -> Result<mpsc::Receiver<Value>, ToolError> {
        let follow = self
            .dispatcher
            .admit_log_stream(
                &credentials(ctx),
                Adapter::Mcp,
                "deployment_get",
                json!({ "deployment": deployment, "log_offset": 0 }),
                0,
            )
            .await?;
        Ok(self.dispatcher.job_log_stream(follow))
    }
}

/// Calls a sh0 server over REST with the stored key (`sh0 mcp`).
pub struct RemoteBackend {
    pub client: ApiClient,
    /// Names of tools whose output is untrusted, learnt from the catalog once.
    untrusted: tokio::sync::OnceCell<Vec<String>>,
}

impl RemoteBackend {
    pub fn new(client: ApiClient) -> Self {
        Self {
            client,
            untrusted: tokio::sync::OnceCell::new(),
        }
    }
}

fn has_untrusted(schema: &Value) -> bool {
    schema.to_string().contains("x-sh0-untrusted")
}

impl Backend for RemoteBackend {
    async fn catalog(&self, _: &RequestContext<RoleServer>) -> Result<Catalog, ToolError> {
        self.client.catalog().await
    }

    async fn untrusted_output(&self, _: &RequestContext<RoleServer>, name: &str) -> bool {
        let names = self
            .untrusted
            .get_or_try_init(|| async {
                let catalog = self.client.catalog().await?;
                Ok::<_, ToolError>(
                    catalog
                        .tools
                        .into_iter()
                        .filter(|t| has_untrusted(&t.output_schema))
                        .map(|t| t.name)
                        .collect(),
                )
            })
            .await;
        // Unknown: fence, to be safe.
        names.map(|n| n.iter().any(|t| t == name)).unwrap_or(true)
    }

    async fn call(&self, _: &RequestContext<RoleServer>, name: &str, args: Value) -> Result<Value, ToolError> {
        self.client.call_tool(name, args).await
    }

    /// Over REST: `deployment_get` from the last offset, every half second.
    async fn follow_deployment(
        &self,
        _: &RequestContext<RoleServer>,
        deployment: &str,
    ) -> Result<mpsc::Receiver<Value>, ToolError> {
        let client = self.client.clone();
        let dep = deployment.to_owned();
        let first = client
            .call_tool("deployment_get", json!({ "deployment": dep, "log_offset": 0 }))
            .await?;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut page = first;
            let mut offset = 0i64;
            loop {
                for line in page["log"].as_array().into_iter().flatten() {
                    if tx.send(json!({ "pos": offset, "line": line })).await.is_err() {
                        return;
                    }
                    offset += 1;
                }
                offset = page["next_offset"].as_i64().unwrap_or(offset);
                if !page["active"].as_bool().unwrap_or(false) {
                    let d = &page["deployment"];
                    let _ = tx
                        .send(json!({ "end": true, "status": d["status"], "error": d["error"] }))
                        .await;
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                match client
                    .call_tool("deployment_get", json!({ "deployment": dep, "log_offset": offset }))
                    .await
                {
                    Ok(p) => page = p,
                    Err(_) => return,
                }
            }
        });
        Ok(rx)
    }
}

//! The `Tool` contract. A tool is metadata plus a typed `call`; its input and output types
//! derive `JsonSchema`, and those schemas are the API: MCP's `tools/list`, the OpenAPI
//! document, the CLI's flags and the checked-in catalog are all generated from them.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

use super::{Permission, ToolContext, ToolError};

/// How much a tool can change. It drives MCP annotations and the confirmation gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Safety {
    /// Reads only.
    Read,
    /// Changes state in a way that can be undone or repeated.
    Write,
    /// Deletes or replaces something irrecoverably: needs an explicit confirmation.
    Destructive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the arguments travel in the query string (else in a JSON body).
    pub fn args_in_query(self) -> bool {
        matches!(self, Self::Get | Self::Delete)
    }
}

/// A REST route: method and an OpenAPI-style path (`/api/v1/apps/{app}`). Each `{param}`
/// names a property of the tool's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct HttpRoute {
    pub method: HttpMethod,
    pub path: &'static str,
}

impl HttpRoute {
    pub const fn new(method: HttpMethod, path: &'static str) -> Self {
        Self { method, path }
    }

    /// The `{param}` names in the path, in order.
    pub fn path_params(&self) -> Vec<&'static str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect()
    }
}

/// The kind of resource a tool's input names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Project,
    App,
    Deployment,
    Domain,
    Database,
    Backup,
}

/// What a tool reaches, so that dispatch can decide project access before the tool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// Server-wide: the caller's role and scope decide. A key limited to one project may
    /// only call server-wide tools that read.
    Server,
    /// Lists across projects: the tool shows only what the caller reaches.
    Listing,
    /// The resource named by the input property `field`, which lives in one project. When
    /// the property is optional and absent, the tool lists (as `Listing`).
    Resource {
        field: &'static str,
        resource: ResourceKind,
    },
}

impl Target {
    pub const fn project(field: &'static str) -> Self {
        Self::Resource {
            field,
            resource: ResourceKind::Project,
        }
    }
    pub const fn app(field: &'static str) -> Self {
        Self::Resource {
            field,
            resource: ResourceKind::App,
        }
    }
    pub const fn database(field: &'static str) -> Self {
        Self::Resource {
            field,
            resource: ResourceKind::Database,
        }
    }
    pub const fn deployment(field: &'static str) -> Self {
        Self::Resource {
            field,
            resource: ResourceKind::Deployment,
        }
    }
}

/// Everything about a tool except its code. Defined once, here; nothing is restated elsewhere.
#[derive(Debug, Clone)]
pub struct ToolMeta {
    /// snake_case, stable: `app_create`.
    pub name: &'static str,
    pub title: &'static str,
    /// Written for a model: what it does, when to use it, what it returns.
    pub description: &'static str,
    pub safety: Safety,
    pub permission: Permission,
    /// What the tool reaches: the server, a listing, or one project's resource.
    pub target: Target,
    pub http: Option<HttpRoute>,
    pub idempotent: bool,
}

/// An endpoint that carries what a JSON tool call cannot — an archive's bytes, a live log —
/// declared by the tool whose permission, project access and audit record it uses. The
/// registry admits such a request only for a tool that declares it (see `transport.rs`),
/// and the catalog lists them, so a new endpoint cannot skip the tool's checks and the
/// generated tests walk every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transport {
    /// A WebSocket following the log of a job until it ends (`GET path?offset=N`). It is
    /// admitted as a call of the tool with the path's parameters; `job` is the JSON pointer
    /// to the job id in the tool's output.
    LogStream { path: &'static str, job: &'static str },
    /// A multipart upload (`POST path`) of an archive that only this tool consumes, by the
    /// same caller. `path` may name the tool's resource (`{app}`).
    Upload { path: &'static str },
    /// A deploy hook's delivery endpoint (`POST path`): its own credential, the hook's
    /// token, calls this tool with arguments the hook fixes (see `registry/hooks.rs`).
    Hook { path: &'static str },
    /// A forge's webhook delivery (`POST path`): verified by the app's webhook secret, it
    /// calls this tool (or the preview tools) as the webhook's hook, with arguments the
    /// verified payload fixes (see `registry/webhooks.rs`).
    Webhook { path: &'static str },
    /// `git push` over smart HTTP (`GET …/info/refs`, `POST path`): an API key (HTTP Basic
    /// password) that may call this tool for the app pushes, and the push calls it.
    GitPush { path: &'static str },
    /// The tool's own route (`path`), asked with `Accept: text/event-stream`, streams the
    /// call's progress as Server-Sent Events and ends with `done` (the result) or `error`.
    EventStream { path: &'static str },
}

#[async_trait]
pub trait Tool: Send + Sync + 'static {
    type Input: DeserializeOwned + JsonSchema + Send + Sync;
    type Output: Serialize + JsonSchema + Send;

    fn meta(&self) -> ToolMeta;

    /// The transports that serve this tool (none for most).
    fn transports(&self) -> &'static [Transport] {
        &[]
    }

    /// The CLI path (`sh0 <group> <verb>`), when it is not the name split at its first `_`
    /// (`app_create` is `sh0 app create`, `user_update_role` is `sh0 user update-role`).
    fn cli(&self) -> Option<[&'static str; 2]> {
        None
    }

    /// For `Destructive` tools: the name the caller must confirm (the resource's name),
    /// resolved from the validated input. Dispatch compares it with the `confirm` argument
    /// before `call` runs. Returns `NotFound` when the resource does not exist.
    async fn confirmation_target(&self, _ctx: &ToolContext, _input: &Self::Input) -> Result<String, ToolError> {
        Err(ToolError::internal(format!(
            "{} has no confirmation target",
            self.meta().name
        )))
    }

    async fn call(&self, ctx: &ToolContext, input: Self::Input) -> Result<Self::Output, ToolError>;
}

/// The type-erased form the registry stores. Only dispatch calls `invoke`.
#[async_trait]
pub trait DynTool: Send + Sync {
    fn meta(&self) -> ToolMeta;
    fn transports(&self) -> &'static [Transport];
    fn cli(&self) -> Option<[&'static str; 2]>;
    fn input_schema(&self) -> Value;
    fn output_schema(&self) -> Value;
    /// Deserializes `args` (already validated against the schema), applies the
    /// confirmation gate for destructive tools, calls, and serializes the output.
    async fn invoke(&self, ctx: &ToolContext, args: Value, confirm: Option<&str>) -> Result<Value, ToolError>;
}

struct Erased<T>(T);

/// Wraps a typed tool for the registry.
pub fn erase<T: Tool>(tool: T) -> Arc<dyn DynTool> {
    Arc::new(Erased(tool))
}

#[async_trait]
impl<T: Tool> DynTool for Erased<T> {
    fn meta(&self) -> ToolMeta {
        self.0.meta()
    }

    fn transports(&self) -> &'static [Transport] {
        self.0.transports()
    }

    fn cli(&self) -> Option<[&'static str; 2]> {
        self.0.cli()
    }

    fn input_schema(&self) -> Value {
        super::schema::schema_for::<T::Input>()
    }

    fn output_schema(&self) -> Value {
        super::schema::schema_for::<T::Output>()
    }

    async fn invoke(&self, ctx: &ToolContext, args: Value, confirm: Option<&str>) -> Result<Value, ToolError> {
        let input: T::Input = serde_json::from_value(args).map_err(|e| ToolError::invalid(e.to_string()))?;
        if self.0.meta().safety == Safety::Destructive {
            let target = self.0.confirmation_target(ctx, &input).await?;
            match confirm {
                Some(given) if given == target => {}
                Some(given) => {
                    return Err(ToolError {
                        message: format!(
                            "confirmation `{}` does not match `{target}`; nothing was changed",
                            given.chars().take(80).collect::<String>()
                        ),
                        ..ToolError::confirmation_required(&target, "")
                    });
                }
                None => {
                    let what = self.0.meta().name.split('_').next().unwrap_or("resource");
                    return Err(ToolError::confirmation_required(&target, what));
                }
            }
        }
        let output = self.0.call(ctx, input).await?;
        serde_json::to_value(output).map_err(ToolError::internal)
    }
}

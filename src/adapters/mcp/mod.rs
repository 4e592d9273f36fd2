//! The MCP adapter. One `ServerHandler` serves both transports: streamable HTTP at `/mcp`
//! on the server (calling dispatch in-process) and stdio for `sh0 mcp` (calling a remote
//! server over REST). The difference is the `Backend`; tool listing, results, annotations
//! and the confirmation dialogue for destructive tools are written once, here.
//!
//! Confirmation: dispatch refuses a destructive call without `confirm` equal to the
//! resource's name (`confirmation_required`). When the client can elicit, this adapter
//! asks the human — as an MRTR input request on 2026-07-28, as a server-to-client
//! `elicitation/create` on 2025-11-25 — and retries with the name they typed. A decline,
//! or a client that cannot elicit, gets an `isError` result and nothing changes.

mod backend;
mod confirm;
mod http;

pub use backend::{Backend, LocalBackend, RemoteBackend};
pub use http::service as http_service;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, InitializeResult, ListPromptsResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, Role, ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::registry::{CatalogEntry, ErrorKind, ToolError};

pub struct McpServer<B: Backend> {
    backend: Arc<B>,
}

impl<B: Backend> Clone for McpServer<B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
        }
    }
}

impl<B: Backend> McpServer<B> {
    pub fn new(backend: B) -> Self {
        Self {
            backend: Arc::new(backend),
        }
    }
}

/// The MCP form of a catalog entry: schemas as published, annotations from safety.
pub fn mcp_tool(entry: &CatalogEntry) -> Tool {
    let as_object = |v: &Value| -> Arc<Map<String, Value>> {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.remove("$schema");
        Arc::new(m)
    };
    let mut annotations = ToolAnnotations::with_title(entry.title.clone());
    annotations.read_only_hint = Some(entry.is_read_only());
    annotations.destructive_hint = Some(entry.is_destructive());
    annotations.idempotent_hint = Some(entry.idempotent);
    annotations.open_world_hint = Some(false);
    Tool::new(
        entry.name.clone(),
        entry.description.clone(),
        as_object(&entry.input_schema),
    )
    .with_title(entry.title.clone())
    .with_raw_output_schema(as_object(&entry.output_schema))
    .with_annotations(annotations)
}

/// A tool failure as the model sees it: an `isError` result with a readable message.
pub fn error_result(e: &ToolError) -> CallToolResult {
    let text = match e.kind {
        ErrorKind::Internal => e.message.clone(),
        kind => format!("{}: {}", kind.as_str(), e.message),
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

impl<B: Backend> ServerHandler for McpServer<B> {
    fn get_info(&self) -> InitializeResult {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().enable_prompts().build());
        info.server_info = Implementation::new("sh0", env!("CARGO_PKG_VERSION")).with_title("sh0");
        info.instructions = Some(
            "sh0 deploys and runs apps on this server. Start with system_info; list before you change; \
             destructive tools ask the user to confirm by typing the resource's name."
                .into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let catalog = self.backend.catalog(&context).await.map_err(protocol_error)?;
        Ok(ListToolsResult::with_all_items(
            catalog.tools.iter().map(mcp_tool).collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        confirm::call_with_confirmation(&*self.backend, request, context).await
    }

    /// The prompts of `prompts/`, the same for every caller (they call tools, which
    /// dispatch checks as usual).
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let prompts = crate::registry::prompts::all()
            .into_iter()
            .map(|p| {
                let args = p
                    .arguments
                    .iter()
                    .map(|a| {
                        PromptArgument::new(a.name.clone())
                            .with_description(a.description.clone())
                            .with_required(a.required)
                    })
                    .collect();
                Prompt::new(p.name, Some(p.description), Some(args)).with_title(p.title)
            })
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let invalid = |e: ToolError| ErrorData::invalid_params(e.message, None);
        let prompt = crate::registry::prompts::get(&request.name).map_err(invalid)?;
        let text = prompt.render(&request.arguments.unwrap_or_default()).map_err(invalid)?;
        let result =
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).with_description(prompt.description);
        Ok(result.into())
    }
}

/// Listing failures are routing problems (bad credentials, server unreachable).
fn protocol_error(e: ToolError) -> ErrorData {
    match e.kind {
        ErrorKind::Unauthenticated | ErrorKind::Forbidden => ErrorData::invalid_request(e.message, None),
        _ => ErrorData::internal_error(e.message, None),
    }
}

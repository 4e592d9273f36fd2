//! The streamable HTTP transport at `/mcp`, in both protocol generations: stateless
//! 2026-07-28 requests and 2025-11-25 sessions (kept for server-to-client elicitation).

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

use super::{LocalBackend, McpServer};
use crate::registry::oauth::{OAUTH_ACCESS_PREFIX, ServerUrls};
use crate::registry::{Credentials, Dispatcher};

/// The `/mcp` tower service. `hosts` are the host names the server is reached by (the
/// DNS-rebinding check accepts only those).
pub fn service(
    dispatcher: Dispatcher,
    hosts: Vec<String>,
) -> StreamableHttpService<McpServer<LocalBackend>, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_legacy_session_mode(true);
    let server = McpServer::new(LocalBackend { dispatcher });
    StreamableHttpService::new(
        move || Ok(server.for_session()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// The credentials of an MCP request: an API key, or an OAuth access token bound to the
/// resource this request reached (`<scheme>://<host>/mcp`), which the token's grant must
/// name (RFC 8707).
pub fn credentials_of(headers: &axum::http::HeaderMap) -> Credentials {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match Credentials::from_authorization(get("authorization")) {
        Credentials::Bearer(token) if token.starts_with(OAUTH_ACCESS_PREFIX) => Credentials::Grant {
            token,
            resource: ServerUrls::of_request(get("x-forwarded-proto"), get("host")).resource(),
        },
        other => other,
    }
}

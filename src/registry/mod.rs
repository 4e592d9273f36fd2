//! The tool registry: the one place where sh0's capabilities are defined and the one door
//! (`Dispatcher::dispatch`) through which every adapter calls them. Permissions, the
//! confirmation gate for destructive tools, input validation and the audit record all
//! happen here, so no adapter can forget one.

mod access;
pub mod assistant;
mod audit;
mod authn;
mod catalog;
mod context;
mod dispatch;
mod error;
mod events;
mod git_push;
mod hooks;
mod maintenance;
pub mod oauth;
mod oauth_cimd;
mod permission;
mod principal;
pub mod prompts;
mod scheduler;
mod schema;
mod sessions;
mod tool;
mod transport;
mod webhooks;

pub use authn::{REQUIRE_2FA_SETTING, resolve_projects};
pub use catalog::{Catalog, CatalogEntry, reference_markdown};
pub use context::{ServerSettings, Services, ToolContext};
pub use dispatch::{Adapter, Dispatcher};
pub use error::{ErrorKind, ToolError};
pub use events::{CallEvent, EventSink};
pub use hooks::HOOK_TOKEN_HEADER;
pub use permission::Permission;
pub use principal::{Credentials, Principal, PrincipalId, ProjectAccess, SystemTask, same_origin};
pub use schema::{CONFIRM_FIELD, ToolDescriptor};
pub use sessions::{
    ACCESS_TTL, AccountFlow, BOOTSTRAP_KEY_SETTING, ClientAddr, ClientInfo, IssuedSession, REFRESH_TTL, UserView,
    second_factor_attempt, verify_second_factor,
};
pub use tool::{DynTool, HttpMethod, HttpRoute, ResourceKind, Safety, Target, Tool, ToolMeta, Transport, erase};
pub use transport::{AdmittedUpload, LogFollow, MAX_UPLOAD_BYTES};
pub use webhooks::{MAX_WEBHOOK_BODY, PendingDeploys, WebhookBody};

use std::collections::BTreeMap;
use std::sync::Arc;

/// Every tool of this build, with its schemas computed once.
pub struct Registry {
    tools: BTreeMap<&'static str, ToolDescriptor>,
}

impl Registry {
    /// Builds a registry; panics on a duplicate name or an invalid schema, which are
    /// programming errors caught by the first test run.
    pub fn new(tools: Vec<Arc<dyn DynTool>>) -> Self {
        let mut map = BTreeMap::new();
        for tool in tools {
            let d = ToolDescriptor::new(tool);
            let name = d.meta().name;
            assert!(map.insert(name, d).is_none(), "duplicate tool name {name}");
        }
        Self { tools: map }
    }

    /// Compiles every input validator now (a server does at start: a bad schema fails
    /// there, and no first call pays for it). A CLI start compiles none.
    pub fn compile_all(&self) {
        for d in self.tools.values() {
            d.compile();
        }
    }

    pub fn get(&self, name: &str) -> Option<&ToolDescriptor> {
        self.tools.get(name)
    }

    /// All tools, ordered by name.
    pub fn iter(&self) -> impl Iterator<Item = &ToolDescriptor> {
        self.tools.values()
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

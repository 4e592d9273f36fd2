//! What a tool's `call` receives: the domain services and the authenticated principal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{Permission, Principal, ToolError};
use crate::auth::MasterKey;
use crate::store::Store;

/// Server settings tools may need to read.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub data_dir: PathBuf,
    pub listen: String,
    /// Host names the server answers to (MCP host check, URLs it prints).
    pub hosts: Vec<String>,
}

/// The domain services, shared by all calls.
pub struct Services {
    pub store: Store,
    pub master_key: MasterKey,
    pub settings: ServerSettings,
    pub started: Instant,
    pub started_at: String,
}

/// The per-call context.
pub struct ToolContext {
    pub services: Arc<Services>,
    pub principal: Principal,
}

impl ToolContext {
    pub fn store(&self) -> &Store {
        &self.services.store
    }

    /// For permissions that depend on the input (e.g. `reveal: true`): the same policy
    /// dispatch applies to the tool's own permission.
    pub fn require(&self, p: Permission) -> Result<(), ToolError> {
        if self.principal.holds(p) {
            Ok(())
        } else {
            Err(ToolError::forbidden(format!(
                "this needs the `{}` permission, which your credential lacks",
                p.as_str()
            )))
        }
    }
}

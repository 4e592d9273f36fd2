//! What a tool's `call` receives: the domain services and the authenticated principal.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{Adapter, Permission, Principal, ToolError};
use crate::auth::MasterKey;
use crate::deploy::Deployer;
use crate::store::Store;

/// Server settings tools may need to read.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub data_dir: PathBuf,
    pub listen: String,
    /// Host names the server answers to (MCP host check, URLs it prints).
    pub hosts: Vec<String>,
    /// Apps are reachable at `<app>.<base_domain>`.
    pub base_domain: String,
    /// The proxy's HTTP port (0: disabled).
    pub http_port: u16,
}

impl ServerSettings {
    /// The URL an app is reachable at through the proxy.
    pub fn app_url(&self, app: &str) -> String {
        match self.http_port {
            80 => format!("http://{app}.{}", self.base_domain),
            port => format!("http://{app}.{}:{port}", self.base_domain),
        }
    }
}

/// The domain services, shared by all calls.
pub struct Services {
    pub store: Arc<Store>,
    pub deployer: Deployer,
    pub master_key: MasterKey,
    pub settings: ServerSettings,
    pub started: Instant,
    pub started_at: String,
}

/// The per-call context.
pub struct ToolContext {
    pub services: Arc<Services>,
    pub principal: Principal,
    /// The adapter the call came through (a deployment records it as its trigger).
    pub adapter: Adapter,
}

impl ToolContext {
    pub fn store(&self) -> &Store {
        &self.services.store
    }

    pub fn deployer(&self) -> &Deployer {
        &self.services.deployer
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

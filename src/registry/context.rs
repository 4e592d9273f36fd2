//! What a tool's `call` receives: the domain services and the authenticated principal.

use crate::domain::Timestamp;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{Adapter, Permission, Principal, ToolError};
use crate::auth::{Limiters, MasterKey, SessionKeys};
use crate::deploy::Deployer;
use crate::proxy::Edge;
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
    /// The proxy's HTTPS port (0: disabled).
    pub https_port: u16,
}

impl ServerSettings {
    /// The URL an app is reachable at through the proxy, at its default host.
    pub fn app_url(&self, app: &str) -> String {
        self.host_url(&format!("{app}.{}", self.base_domain), false)
    }

    /// The URL of `host` through the proxy: HTTPS when it has a certificate to serve.
    pub fn host_url(&self, host: &str, https: bool) -> String {
        match (https && self.https_port != 0, self.https_port, self.http_port) {
            (true, 443, _) => format!("https://{host}"),
            (true, port, _) => format!("https://{host}:{port}"),
            (false, _, 80) => format!("http://{host}"),
            (false, _, port) => format!("http://{host}:{port}"),
        }
    }
}

/// The domain services, shared by all calls.
pub struct Services {
    pub store: Arc<Store>,
    pub deployer: Deployer,
    /// Managed databases.
    pub databases: crate::databases::Databases,
    /// Their backups and where they are stored.
    pub backups: crate::backups::Backups,
    /// Custom domains, certificates, ACME and access metrics.
    pub edge: Edge,
    pub master_key: MasterKey,
    /// Signs and checks session access tokens.
    pub session_keys: SessionKeys,
    /// Failed login and second-factor attempts.
    pub limiters: Limiters,
    pub settings: ServerSettings,
    /// Background work: every run of a schedule.
    pub jobs: crate::jobs::Jobs,
    /// The assistant's model connection.
    pub ai: crate::ai::Ai,
    /// Conversations whose turn is running.
    pub chat_turns: super::assistant::TurnLocks,
    pub started: Instant,
    /// Webhook calls waiting for an app's deployment to end (a burst deploys once).
    pub git_pending: super::PendingDeploys,
    pub started_at: Timestamp,
}

/// The per-call context.
pub struct ToolContext {
    pub services: Arc<Services>,
    /// The registry, for tools that act on other tools (a schedule names one to run).
    pub registry: Arc<super::Registry>,
    pub principal: Principal,
    /// The adapter the call came through (a deployment records it as its trigger).
    pub adapter: Adapter,
    /// Where the call's progress goes, when its adapter streams it.
    pub events: Option<super::EventSink>,
}

impl ToolContext {
    pub fn store(&self) -> &Store {
        &self.services.store
    }

    pub fn deployer(&self) -> &Deployer {
        &self.services.deployer
    }

    pub fn databases(&self) -> &crate::databases::Databases {
        &self.services.databases
    }

    pub fn backups(&self) -> &crate::backups::Backups {
        &self.services.backups
    }

    pub fn edge(&self) -> &Edge {
        &self.services.edge
    }

    pub fn jobs(&self) -> &crate::jobs::Jobs {
        &self.services.jobs
    }

    /// Where this server's API answers: the panel domain when there is one, else the
    /// address it listens on.
    pub fn api_url(&self) -> String {
        let s = &self.services;
        match s.edge.panel() {
            Some(p) => s.settings.host_url(p.as_str(), s.edge.state().certs.covers(p.as_str())),
            None => format!("http://{}", s.settings.listen),
        }
    }

    /// The caller, as the jobs it starts record it.
    pub fn initiator(&self) -> crate::domain::Initiator {
        crate::domain::Initiator {
            principal: self.principal.id.to_string(),
            user: self.principal.user.clone(),
        }
    }

    /// Whether the caller may see something that belongs to `owner`: their own things, and
    /// everything for admins and owners.
    pub fn sees_owned_by(&self, owner: Option<&crate::domain::UserId>) -> bool {
        self.principal.role >= crate::domain::Role::Admin || (owner.is_some() && self.principal.user.as_ref() == owner)
    }

    /// Whether the caller may see the app with this id (listing tools filter with it).
    pub fn reaches_app(&self, app: &crate::domain::AppId) -> Result<bool, ToolError> {
        match self.store().app_find(&crate::domain::ResourceRef::App(app.clone())) {
            Ok(a) => Ok(self.principal.reaches(&a.project_id)),
            Err(crate::store::StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
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

//! Permissions named by tool metadata, and the one policy that decides them. A principal
//! holds a permission when both its role and its credential's scope reach the level the
//! permission requires.

use schemars::JsonSchema;
use serde::Serialize;

use super::Principal;
use crate::domain::{Role, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    SystemRead,
    ProjectsRead,
    ProjectsWrite,
    AppsRead,
    AppsWrite,
    EnvRead,
    EnvWrite,
    /// Reading environment values in plaintext.
    EnvReveal,
    AuditRead,
    /// Uploading, deleting and renewing TLS certificates (server-wide).
    CertsWrite,
    /// Creating, listing and revoking API keys.
    KeysManage,
    /// Replacing the master key.
    SecretsRotate,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SystemRead => "system_read",
            Self::ProjectsRead => "projects_read",
            Self::ProjectsWrite => "projects_write",
            Self::AppsRead => "apps_read",
            Self::AppsWrite => "apps_write",
            Self::EnvRead => "env_read",
            Self::EnvWrite => "env_write",
            Self::EnvReveal => "env_reveal",
            Self::AuditRead => "audit_read",
            Self::CertsWrite => "certs_write",
            Self::KeysManage => "keys_manage",
            Self::SecretsRotate => "secrets_rotate",
        }
    }

    /// The least role that holds this permission.
    pub fn min_role(self) -> Role {
        match self {
            Self::SystemRead | Self::ProjectsRead | Self::AppsRead | Self::EnvRead => Role::Viewer,
            Self::ProjectsWrite | Self::AppsWrite | Self::EnvWrite | Self::EnvReveal => Role::Developer,
            Self::AuditRead | Self::CertsWrite | Self::KeysManage => Role::Admin,
            Self::SecretsRotate => Role::Owner,
        }
    }

    /// The least key scope that carries this permission.
    pub fn min_scope(self) -> Scope {
        match self {
            Self::SystemRead | Self::ProjectsRead | Self::AppsRead | Self::EnvRead => Scope::Read,
            Self::ProjectsWrite | Self::AppsWrite | Self::EnvWrite | Self::CertsWrite => Scope::Write,
            // Plaintext secrets and the audit trail need an admin-scoped key.
            Self::EnvReveal | Self::AuditRead | Self::KeysManage | Self::SecretsRotate => Scope::Admin,
        }
    }
}

impl Principal {
    pub fn holds(&self, p: Permission) -> bool {
        self.role >= p.min_role() && self.scope >= p.min_scope()
    }
}

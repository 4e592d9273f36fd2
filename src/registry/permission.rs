//! Permissions named by tool metadata, and the one policy that decides them. A principal
//! holds a permission when both its role and its credential's scope reach the level the
//! permission requires.

use schemars::JsonSchema;
use serde::Serialize;

use super::Principal;
use crate::domain::{Role, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
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
    /// Inviting users, listing them, changing their role and projects, removing them.
    UsersManage,
    /// The caller's own account: sessions and two-factor authentication.
    Account,
    /// Server-wide security policy (requiring 2FA).
    SecurityPolicy,
    /// Seeing one's schedules and jobs (admins: everyone's).
    JobsRead,
    /// Making, changing and deleting one's schedules, cancelling one's jobs.
    JobsWrite,
    /// The assistant's model connection (its URL, model and key).
    AiSettings,
    /// What builds are made from: the base images of generated Dockerfiles.
    BuildSettings,
    /// One's own conversations with the assistant.
    Chat,
    /// Seeing managed databases (never their passwords).
    DatabasesRead,
    /// Creating, starting, stopping, linking and deleting managed databases.
    DatabasesWrite,
    /// A database's password and connection URL in plaintext.
    DatabasesReveal,
    /// Reading a database's data through sh0's read-only role.
    DatabasesQuery,
    /// Adding, testing and removing backup destinations (server-wide, with credentials).
    BackupStorage,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The least role that holds this permission.
    pub fn min_role(self) -> Role {
        match self {
            Self::SystemRead
            | Self::ProjectsRead
            | Self::AppsRead
            | Self::EnvRead
            | Self::KeysManage
            | Self::Account
            | Self::JobsRead
            | Self::JobsWrite
            | Self::Chat
            | Self::DatabasesRead => Role::Viewer,
            Self::ProjectsWrite
            | Self::AppsWrite
            | Self::EnvWrite
            | Self::EnvReveal
            | Self::DatabasesWrite
            | Self::DatabasesReveal
            | Self::DatabasesQuery => Role::Developer,
            Self::AuditRead
            | Self::CertsWrite
            | Self::UsersManage
            | Self::AiSettings
            | Self::BuildSettings
            | Self::BackupStorage => Role::Admin,
            Self::SecretsRotate | Self::SecurityPolicy => Role::Owner,
        }
    }

    /// The least key scope that carries this permission.
    pub fn min_scope(self) -> Scope {
        match self {
            Self::SystemRead
            | Self::ProjectsRead
            | Self::AppsRead
            | Self::EnvRead
            | Self::JobsRead
            | Self::Chat
            | Self::DatabasesRead
            | Self::DatabasesQuery => Scope::Read,
            Self::ProjectsWrite
            | Self::AppsWrite
            | Self::EnvWrite
            | Self::CertsWrite
            | Self::JobsWrite
            | Self::DatabasesWrite => Scope::Write,
            // Plaintext secrets, the audit trail and anything about credentials need an
            // admin-scoped key (a browser session has admin scope).
            Self::EnvReveal
            | Self::DatabasesReveal
            | Self::BackupStorage
            | Self::AuditRead
            | Self::KeysManage
            | Self::SecretsRotate
            | Self::UsersManage
            | Self::Account
            | Self::SecurityPolicy
            | Self::AiSettings
            | Self::BuildSettings => Scope::Admin,
        }
    }

    /// What the assistant is never given, whoever it acts for: plaintext secrets, keys and
    /// account credentials, the master key, its own model key, what builds are made from,
    /// user management, and the conversations themselves (it cannot approve its own calls).
    pub fn chat_withheld(self) -> bool {
        matches!(
            self,
            Self::EnvReveal
                | Self::DatabasesReveal
                | Self::KeysManage
                | Self::Account
                | Self::SecretsRotate
                | Self::UsersManage
                | Self::SecurityPolicy
                | Self::AiSettings
                | Self::BuildSettings
                | Self::Chat
        )
    }
}

impl Principal {
    pub fn holds(&self, p: Permission) -> bool {
        match &self.id {
            super::PrincipalId::System(task) => return task.permissions().contains(&p),
            // A hook deploys, and only that (within its maker's role).
            super::PrincipalId::Hook { .. } if p != Permission::AppsWrite => return false,
            super::PrincipalId::Chat { .. } if p.chat_withheld() => return false,
            super::PrincipalId::Grant { .. } if p.grant_withheld() => return false,
            _ => {}
        }
        self.role >= p.min_role() && self.scope >= p.min_scope()
    }

    /// Whether this caller may call the tool at all (before its target is looked at).
    pub fn may_call(&self, meta: &super::ToolMeta) -> bool {
        // A deploy hook's token outlives the grant that would make it: no grant makes one.
        let grant_made_hook = matches!(self.id, super::PrincipalId::Grant { .. })
            && matches!(meta.name, "hook_create" | "webhook_rotate");
        self.holds(meta.permission) && !grant_made_hook
    }
}

impl Permission {
    /// What a remote client's OAuth grant never does, whatever its scope: manage its
    /// user's account, mint keys, invite users, make schedules (each of which would act on
    /// after the grant is revoked), or change the server's security, secrets, model or the
    /// images every build starts from.
    pub fn grant_withheld(self) -> bool {
        matches!(
            self,
            Self::Account
                | Self::KeysManage
                | Self::UsersManage
                | Self::JobsWrite
                | Self::AiSettings
                | Self::BuildSettings
                | Self::SecurityPolicy
                | Self::SecretsRotate
        )
    }
}

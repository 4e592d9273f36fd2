//! API keys: create one (shown once), list them, revoke one. A key never carries more than
//! its creator has: its scope is at most the creator's and its role is the creator's.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::auth::GeneratedKey;
use crate::domain::{KeyId, ResourceRef, Role, Scope, ShownOnce};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::{HttpRoute, Permission, PrincipalId, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{KeyRow, NewKey};

pub struct KeyCreate;
pub struct KeyList;
pub struct KeyRevoke;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyCreateInput {
    /// What the key is for, e.g. "ci deploys" or "claude desktop".
    #[schemars(length(min = 1, max = 64), regex(pattern = "^[^\\u0000-\\u001f\\u007f]+$"))]
    pub name: String,
    /// read: read tools only; write: also changes; admin: also secrets, audit and keys.
    /// At most the scope of the key creating it.
    pub scope: Scope,
    /// Days until the key stops working; it never expires when absent.
    #[serde(default)]
    #[schemars(range(min = 1, max = 3650))]
    pub expires_in_days: Option<u32>,
    /// Limit the key to this project (id or name): it reaches nothing else, and of the
    /// server-wide tools it may only call those that read.
    #[serde(default)]
    pub project: Option<ResourceRef>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyListInput {}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRevokeInput {
    /// Key id, from key_list.
    pub key: KeyId,
}

#[derive(Serialize, JsonSchema)]
pub struct KeyCreated {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub role: Role,
    pub expires_at: Option<Timestamp>,
    /// The project the key is limited to, if any.
    pub project: Option<String>,
    /// The key itself. It is shown this once and cannot be recovered: store it now.
    pub key: ShownOnce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

#[derive(Serialize, JsonSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub scope: Scope,
    pub role: Role,
    pub state: KeyState,
    /// Whether this is the key making the request.
    pub current: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// The user the key acts for (absent for the bootstrap key).
    pub user: Option<String>,
    /// The project the key is limited to, if any.
    pub project: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct KeyListOutput {
    pub keys: Vec<KeyView>,
}

#[derive(Serialize, JsonSchema)]
pub struct KeyRevokeOutput {
    pub revoked: String,
}

#[async_trait]
impl Tool for KeyCreate {
    type Input = KeyCreateInput;
    type Output = KeyCreated;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "key_create",
            title: "Create an API key",
            description: "Create an API key for the CLI, a script or an MCP client. Its scope limits it (read, \
                          write or admin) and may not exceed the scope of the key creating it; it can expire. The \
                          key is returned once and cannot be shown again. It acts for you, with your role (and \
                          follows it if your role changes), optionally limited to one project.",
            safety: Safety::Write,
            permission: Permission::KeysManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/keys")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: KeyCreateInput) -> Result<KeyCreated, ToolError> {
        if input.scope > ctx.principal.scope {
            return Err(ToolError::forbidden(format!(
                "a key with scope `{}` cannot create a key with the wider scope `{}`",
                ctx.principal.scope, input.scope
            )));
        }
        let expires_at = input
            .expires_in_days
            .map(|d| Timestamp::after(time::Duration::days(i64::from(d))));
        let project = match &input.project {
            Some(r) => {
                let p = ctx.store().project_find(r)?;
                if !ctx.principal.reaches(&p.id) {
                    return Err(ToolError::not_found(format!("project `{r}` not found")));
                }
                Some(p.id)
            }
            None => None,
        };
        let key = GeneratedKey::new();
        let role = ctx.principal.role;
        let id = ctx.store().key_insert(&NewKey {
            name: &input.name,
            prefix: &key.display_prefix,
            hash: &key.hash,
            scope: input.scope,
            role,
            expires_at,
            user_id: ctx.principal.user.as_ref(),
            project_id: project.as_ref(),
        })?;
        Ok(KeyCreated {
            project: project.map(|p| p.to_string()),
            id: id.to_string(),
            name: input.name,
            scope: input.scope,
            role,
            expires_at,
            key: ShownOnce(key.plaintext),
        })
    }
}

fn view(k: KeyRow, caller: &PrincipalId, now: OffsetDateTime) -> KeyView {
    let expired = k.expired_at(now);
    KeyView {
        state: match (&k.revoked_at, expired) {
            (Some(_), _) => KeyState::Revoked,
            (None, true) => KeyState::Expired,
            (None, false) => KeyState::Active,
        },
        current: matches!(caller, PrincipalId::Key(id) if *id == k.id),
        id: k.id.to_string(),
        name: k.name,
        prefix: k.prefix,
        scope: k.scope,
        role: k.role,
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
        user: k.user_id.map(|u| u.to_string()),
        project: k.project_id.map(|p| p.to_string()),
    }
}

/// Owners and admins see every key; others their own.
fn visible(ctx: &ToolContext, k: &KeyRow) -> bool {
    ctx.principal.role >= Role::Admin || (ctx.principal.user.is_some() && k.user_id == ctx.principal.user)
}

#[async_trait]
impl Tool for KeyList {
    type Input = KeyListInput;
    type Output = KeyListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "key_list",
            title: "List API keys",
            description: "List API keys with their scope, state (active, expired, revoked), last use, expiry, \
                          owner and project limit; never the keys themselves. Owners and admins see every key, \
                          others their own. `current` marks the key making the request.",
            safety: Safety::Read,
            permission: Permission::KeysManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/keys")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: KeyListInput) -> Result<KeyListOutput, ToolError> {
        let now = OffsetDateTime::now_utc();
        Ok(KeyListOutput {
            keys: ctx
                .store()
                .key_list()?
                .into_iter()
                .filter(|k| visible(ctx, k))
                .map(|k| view(k, &ctx.principal.id, now))
                .collect(),
        })
    }
}

/// The key, when it exists.
fn find(ctx: &ToolContext, id: &KeyId) -> Result<KeyRow, ToolError> {
    ctx.store()
        .key_get(id)?
        .filter(|k| visible(ctx, k))
        .ok_or_else(|| ToolError::not_found(format!("key {id} not found")))
}

#[async_trait]
impl Tool for KeyRevoke {
    type Input = KeyRevokeInput;
    type Output = KeyRevokeOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "key_revoke",
            title: "Revoke an API key",
            description: "Revoke an API key: every request with it fails from now on. Revoking the key you are \
                          using locks you out of it. Destructive: needs confirm equal to the key's name.",
            safety: Safety::Destructive,
            permission: Permission::KeysManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/keys/{key}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &KeyRevokeInput) -> Result<String, ToolError> {
        Ok(find(ctx, &input.key)?.name)
    }

    async fn call(&self, ctx: &ToolContext, input: KeyRevokeInput) -> Result<KeyRevokeOutput, ToolError> {
        let key = find(ctx, &input.key)?;
        if key.role > ctx.principal.role {
            return Err(ToolError::forbidden(format!(
                "a `{}` cannot revoke a key of a `{}`",
                ctx.principal.role, key.role
            )));
        }
        if !ctx.store().key_revoke(&key.id)? {
            return Err(ToolError::conflict(format!("key {} is already revoked", key.id)));
        }
        Ok(KeyRevokeOutput {
            revoked: key.id.to_string(),
        })
    }
}

//! Users: invite (by one-time link), list, change role and projects, remove. Nobody grants more than they hold: an admin can neither
//! invite an owner nor touch one, and the last owner cannot be demoted or removed.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::auth::{hash_key, random_token};
use crate::domain::{Email, ProjectId, ResourceRef, Role, ShownOnce};
use crate::registry::HttpMethod::{Delete, Get, Patch, Post};
use crate::registry::{
    HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta, resolve_projects,
};
use crate::store::{NewInvite, UserRow};

pub struct UserInvite;
pub struct UserList;
pub struct UserUpdateRole;
pub struct UserRemove;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInviteInput {
    pub email: Email,
    /// The role the new user gets; at most your own.
    pub role: Role,
    /// For developers and viewers: the projects (ids or names) they may reach.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub projects: Vec<ResourceRef>,
    /// Days the link stays valid (7 when absent).
    #[serde(default)]
    #[schemars(range(min = 1, max = 30))]
    pub expires_in_days: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct UserInvited {
    pub email: String,
    pub role: Role,
    pub expires_at: Timestamp,
    /// The one-time invitation token. Shown once: send it to the person invited.
    pub token: ShownOnce,
    /// Where the invited person sets their password: POST `{token, password, name}` here.
    pub accept_url: String,
}

#[derive(Serialize, JsonSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Whether the user has two-factor authentication on.
    pub two_factor: bool,
    /// Projects a developer or viewer is a member of (owners and admins reach all).
    pub projects: Vec<String>,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

#[derive(Serialize, JsonSchema)]
pub struct UserListOutput {
    pub users: Vec<UserView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateRoleInput {
    /// The user's email.
    pub user: Email,
    pub role: Role,
    /// When given, replaces the user's project memberships (ids or names).
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub projects: Option<Vec<ResourceRef>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRefInput {
    /// The user's email.
    pub user: Email,
}

#[derive(Serialize, JsonSchema)]
pub struct UserRemoved {
    pub removed: String,
}

fn view(ctx: &ToolContext, u: UserRow) -> Result<UserView, ToolError> {
    let names = ctx
        .store()
        .user_projects(&u.id)?
        .into_iter()
        .filter_map(|p| ctx.store().project_find(&ResourceRef::Project(p)).ok())
        .map(|p| p.name.to_string())
        .collect();
    Ok(UserView {
        id: u.id.to_string(),
        email: u.email.to_string(),
        name: u.name,
        role: u.role,
        two_factor: u.totp_enabled,
        projects: names,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    })
}

/// The user with this email, when the caller may manage them (role at most the caller's).
fn managed(ctx: &ToolContext, email: &Email) -> Result<UserRow, ToolError> {
    let user = ctx
        .store()
        .user_by_email(email)?
        .ok_or_else(|| ToolError::not_found(format!("user {email} not found")))?;
    if user.role > ctx.principal.role {
        return Err(ToolError::forbidden(format!(
            "a `{}` cannot change a `{}`",
            ctx.principal.role, user.role
        )));
    }
    Ok(user)
}

fn grantable(ctx: &ToolContext, role: Role, projects: &[ResourceRef]) -> Result<Vec<ProjectId>, ToolError> {
    if role > ctx.principal.role {
        return Err(ToolError::forbidden(format!(
            "a `{}` cannot grant the `{role}` role",
            ctx.principal.role
        )));
    }
    let ids = resolve_projects(&ctx.services, projects)?;
    if let Some(p) = ids.iter().find(|p| !ctx.principal.reaches(p)) {
        return Err(ToolError::not_found(format!("project `{p}` not found")));
    }
    Ok(ids)
}

#[async_trait]
impl Tool for UserInvite {
    type Input = UserInviteInput;
    type Output = UserInvited;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "user_invite",
            title: "Invite a user",
            description: "Invite someone by email with a role (owner, admin, developer, viewer; at most yours) and, \
                          for developers and viewers, the projects they may reach. Returns a one-time token, shown \
                          once, that the person uses to set their password; it expires (7 days by default).",
            safety: Safety::Write,
            permission: Permission::UsersManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/users/invites")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: UserInviteInput) -> Result<UserInvited, ToolError> {
        let projects = grantable(ctx, input.role, &input.projects)?;
        if ctx.store().user_by_email(&input.email)?.is_some() {
            return Err(ToolError::conflict(format!("{} has an account already", input.email)));
        }
        let days = i64::from(input.expires_in_days.unwrap_or(7));
        let expires_at = Timestamp::after(time::Duration::days(days));
        let token = random_token();
        ctx.store().invite_insert(&NewInvite {
            token_hash: &hash_key(&token),
            email: &input.email,
            role: input.role,
            projects: &projects,
            invited_by: &ctx.principal.id.to_string(),
            expires_at,
        })?;
        let s = &ctx.services.settings;
        Ok(UserInvited {
            email: input.email.to_string(),
            role: input.role,
            expires_at,
            token: ShownOnce(token),
            accept_url: format!("http://{}/api/v1/auth/invites/accept", s.listen),
        })
    }
}

#[async_trait]
impl Tool for UserList {
    type Input = NoInput;
    type Output = UserListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "user_list",
            title: "List users",
            description: "List the users of this server with their role, projects, whether 2FA is on, and last login.",
            safety: Safety::Read,
            permission: Permission::UsersManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/users")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<UserListOutput, ToolError> {
        let users = ctx.store().user_list()?;
        Ok(UserListOutput {
            users: users.into_iter().map(|u| view(ctx, u)).collect::<Result<_, _>>()?,
        })
    }
}

#[async_trait]
impl Tool for UserUpdateRole {
    type Input = UserUpdateRoleInput;
    type Output = UserView;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "user_update_role",
            title: "Change a user's role",
            description: "Change a user's role and, when `projects` is given, replace the projects they are a \
                          member of. You can neither grant a role above yours nor change a user above you; the \
                          last owner stays an owner. Takes effect on their next request, keys included.",
            safety: Safety::Write,
            permission: Permission::UsersManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Patch, "/api/v1/users/{user}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: UserUpdateRoleInput) -> Result<UserView, ToolError> {
        let user = managed(ctx, &input.user)?;
        let projects = input
            .projects
            .as_deref()
            .map(|p| grantable(ctx, input.role, p))
            .transpose()?;
        if projects.is_none() {
            grantable(ctx, input.role, &[])?;
        }
        ctx.store().user_set_role(&user.id, input.role, projects.as_deref())?;
        let fresh = ctx
            .store()
            .user_get(&user.id)?
            .ok_or_else(|| ToolError::not_found(format!("user {} not found", input.user)))?;
        view(ctx, fresh)
    }
}

#[async_trait]
impl Tool for UserRemove {
    type Input = UserRefInput;
    type Output = UserRemoved;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "user_remove",
            title: "Remove a user",
            description: "Remove a user: their sessions end and their API keys stop working at once. The last \
                          owner cannot be removed. Destructive: needs confirm equal to the user's email.",
            safety: Safety::Destructive,
            permission: Permission::UsersManage,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/users/{user}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &UserRefInput) -> Result<String, ToolError> {
        Ok(managed(ctx, &input.user)?.email.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: UserRefInput) -> Result<UserRemoved, ToolError> {
        let user = managed(ctx, &input.user)?;
        ctx.store().user_delete(&user.id)?;
        Ok(UserRemoved {
            removed: user.email.to_string(),
        })
    }
}

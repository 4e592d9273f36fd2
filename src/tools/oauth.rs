//! A person's OAuth grants to remote agents: consenting to a client's request (from the
//! consent page, signed in), listing the grants they gave, revoking one (its tokens stop
//! working on their next request).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::auth::hash_key;
use crate::auth::oauth::new_code;
use crate::domain::{AuthRequestId, GrantId, ResourceRef, Scope, ShownOnce, Timestamp, rfc3339_after};
use crate::registry::HttpMethod::{Delete, Get, Post};
use crate::registry::oauth::{CODE_TTL, CodeGrant, PendingAuthorization};
use crate::registry::{HttpRoute, Permission, PrincipalId, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct OAuthConsent;
pub struct OAuthGrantList;
pub struct OAuthGrantRevoke;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// The authorization request shown on the consent page.
    pub request: AuthRequestId,
    /// `approve` lets the client act for you; `deny` sends it away with nothing.
    pub decision: ConsentDecision,
    /// Grant less than the client asked for (`read` instead of `admin`, say); never more.
    #[serde(default)]
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsentDecision {
    Approve,
    Deny,
}

#[derive(Serialize, JsonSchema)]
pub struct ConsentOutput {
    /// Where your browser goes next: the client's redirect URI with a one-time code, or
    /// with `error=access_denied`.
    pub redirect_to: ShownOnce,
}

#[derive(Serialize, JsonSchema)]
pub struct GrantView {
    pub id: GrantId,
    pub client_id: String,
    pub client_name: String,
    /// `read`, `write` or `admin`: never more than your role at each request.
    pub scope: Scope,
    /// The one project it reaches, when limited.
    pub project: Option<String>,
    /// The MCP endpoint its tokens are for.
    pub resource: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Serialize, JsonSchema)]
pub struct GrantListOutput {
    pub grants: Vec<GrantView>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRevokeInput {
    /// Grant id, from oauth_grant_list.
    pub grant: GrantId,
}

#[derive(Serialize, JsonSchema)]
pub struct GrantRevoked {
    pub revoked: GrantId,
}

#[async_trait]
impl Tool for OAuthConsent {
    type Input = ConsentInput;
    type Output = ConsentOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "oauth_consent",
            title: "Answer an agent's request for access",
            description: "Approve or decline a remote client's OAuth authorization request, as shown on the consent \
                          page: approving lets it act for you with the scope it asked for, or a lower one you choose \
                          (never beyond your own role), until you revoke the grant. Only a signed-in person in a \
                          browser can answer.",
            safety: Safety::Write,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/oauth/consent")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: ConsentInput) -> Result<ConsentOutput, ToolError> {
        let user = ctx.principal.user()?.clone();
        if !matches!(ctx.principal.id, PrincipalId::Session { .. }) {
            return Err(ToolError::forbidden(
                "consent is given by a signed-in person on the consent page, not by a key or an agent",
            ));
        }
        let Some(pending) = ctx.store().oauth_request_take::<PendingAuthorization>(&input.request)? else {
            return Err(ToolError::not_found(
                "this authorization request is unknown, answered already or expired; start again from the client",
            ));
        };
        if input.decision == ConsentDecision::Deny {
            let to = pending.redirect_with(&[("error", "access_denied"), ("error_description", "the user declined")]);
            return Ok(ConsentOutput {
                redirect_to: ShownOnce(to),
            });
        }
        let project_id = match &pending.scope.project {
            None => None,
            Some(name) => {
                let project = ctx
                    .store()
                    .project_find(&ResourceRef::try_from(name.clone()).map_err(ToolError::invalid)?)
                    .ok()
                    .filter(|p| ctx.principal.reaches(&p.id))
                    .ok_or_else(|| ToolError::not_found(format!("you have no project `{name}` to grant")))?;
                Some(project.id)
            }
        };
        let scope = match input.scope {
            Some(s) if s > pending.scope.scope => {
                return Err(ToolError::invalid(format!(
                    "the client asked for `{}`; you can grant that or less, not `{}`",
                    pending.scope.scope.as_str(),
                    s.as_str()
                )));
            }
            Some(s) => s,
            None => pending.scope.scope,
        };
        let code = new_code();
        let body = CodeGrant {
            client_id: pending.client_id.clone(),
            client_name: pending.client_name.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            redirect_uri_given: pending.redirect_uri_given,
            code_challenge: pending.code_challenge.clone(),
            user_id: user,
            scope,
            project_id,
            resource: pending.resource.clone(),
        };
        ctx.store()
            .oauth_code_put(&hash_key(&code), &body, &rfc3339_after(CODE_TTL))?;
        Ok(ConsentOutput {
            redirect_to: ShownOnce(pending.redirect_with(&[("code", &code)])),
        })
    }
}

#[async_trait]
impl Tool for OAuthGrantList {
    type Input = NoInput;
    type Output = GrantListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "oauth_grant_list",
            title: "List your grants to agents",
            description: "List the OAuth grants you gave to remote clients (agents connected over MCP): which client, \
                          what scope and project, when it was last used, and whether it is revoked.",
            safety: Safety::Read,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/oauth/grants")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<GrantListOutput, ToolError> {
        let user = ctx.principal.user()?;
        let grants = ctx
            .store()
            .oauth_grant_list(user)?
            .into_iter()
            .map(|g| GrantView {
                project: g.project_id.and_then(|p| {
                    ctx.store()
                        .project_find(&ResourceRef::Project(p))
                        .ok()
                        .map(|p| p.name.to_string())
                }),
                id: g.id,
                client_id: g.client_id,
                client_name: g.client_name,
                scope: g.scope,
                resource: g.resource,
                created_at: g.created_at,
                last_used_at: g.last_used_at,
                revoked_at: g.revoked_at,
            })
            .collect();
        Ok(GrantListOutput { grants })
    }
}

#[async_trait]
impl Tool for OAuthGrantRevoke {
    type Input = GrantRevokeInput;
    type Output = GrantRevoked;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "oauth_grant_revoke",
            title: "Revoke a grant",
            description: "Revoke one of your OAuth grants: the client's access and refresh tokens stop working at \
                          once. It must ask for your consent again to come back.",
            safety: Safety::Write,
            permission: Permission::Account,
            target: Target::Server,
            http: Some(HttpRoute::new(Delete, "/api/v1/oauth/grants/{grant}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: GrantRevokeInput) -> Result<GrantRevoked, ToolError> {
        let user = ctx.principal.user()?;
        match ctx.store().oauth_grant_get(&input.grant)? {
            Some(g) if &g.user_id == user => {
                ctx.store().oauth_grant_revoke(&input.grant)?;
                Ok(GrantRevoked { revoked: input.grant })
            }
            _ => Err(ToolError::not_found(format!("you have no grant {}", input.grant))),
        }
    }
}

//! The server-wide security policy: whether every user must use two-factor authentication.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::registry::HttpMethod::{Get, Put};
use crate::registry::{
    HttpRoute, Permission, REQUIRE_2FA_SETTING, Safety, Target, Tool, ToolContext, ToolError, ToolMeta,
};

pub struct SecurityPolicyGet;
pub struct SecurityPolicySet;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityPolicyInput {
    /// Require two-factor authentication of every user: until they set it up, a user's
    /// session can only set it up. Off when absent.
    #[serde(default)]
    pub require_2fa: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct SecurityPolicy {
    pub require_2fa: bool,
}

#[async_trait]
impl Tool for SecurityPolicyGet {
    type Input = NoInput;
    type Output = SecurityPolicy;

    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["security-policy", "get"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "security_policy_get",
            title: "Show the security policy",
            description: "Whether every user must use two-factor authentication.",
            safety: Safety::Read,
            // Every signed-in user is subject to it, so every one may read it.
            permission: Permission::SystemRead,
            target: Target::Server,
            http: Some(HttpRoute::new(Get, "/api/v1/security-policy")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: NoInput) -> Result<SecurityPolicy, ToolError> {
        Ok(SecurityPolicy {
            require_2fa: ctx.store().setting_get(REQUIRE_2FA_SETTING)?.as_deref() == Some("true"),
        })
    }
}

#[async_trait]
impl Tool for SecurityPolicySet {
    type Input = SecurityPolicyInput;
    type Output = SecurityPolicy;

    /// `sh0 security-policy set`: the policy is one thing, not a "security" group.
    fn cli(&self) -> Option<[&'static str; 2]> {
        Some(["security-policy", "set"])
    }

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "security_policy_set",
            title: "Set the security policy",
            description: "Require (or stop requiring) two-factor authentication of every user. While it is \
                          required, a user without 2FA can only set it up (totp_enroll, totp_confirm).",
            safety: Safety::Write,
            permission: Permission::SecurityPolicy,
            target: Target::Server,
            http: Some(HttpRoute::new(Put, "/api/v1/security-policy")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: SecurityPolicyInput) -> Result<SecurityPolicy, ToolError> {
        ctx.store()
            .setting_put(REQUIRE_2FA_SETTING, if input.require_2fa { "true" } else { "false" })?;
        Ok(SecurityPolicy {
            require_2fa: input.require_2fa,
        })
    }
}

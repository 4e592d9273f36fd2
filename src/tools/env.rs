//! Environment tools. Values are sealed with the master key before they reach the store
//! and opened only for `env_list` with `reveal: true` (its own permission) — and, with the
//! deploy engine, at container creation.

use crate::domain::Timestamp;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::env_context;
use crate::domain::{EnvKey, ResourceRef, SecretString};
use crate::registry::HttpMethod::{Delete, Get, Put};
use crate::registry::{HttpRoute, Permission, Safety, Target, Tool, ToolContext, ToolError, ToolMeta};

pub struct EnvSet;
pub struct EnvUnset;
pub struct EnvList;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvSetInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Variable name.
    pub key: EnvKey,
    /// Variable value; stored encrypted, never shown in logs or audit records.
    pub value: SecretString,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvUnsetInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Variable name.
    pub key: EnvKey,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvListInput {
    /// App id or name.
    pub app: ResourceRef,
    /// Return the values in plaintext. Needs the `env_reveal` permission (an admin-scoped key).
    #[serde(default)]
    pub reveal: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct EnvSetOutput {
    pub app: String,
    pub key: String,
    /// True when the variable was created, false when an existing value was replaced.
    pub created: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct EnvUnsetOutput {
    pub app: String,
    pub key: String,
}

#[derive(Serialize, JsonSchema)]
pub struct EnvVar {
    pub key: String,
    /// The value when revealed; `null` otherwise.
    pub value: Option<String>,
    pub updated_at: Timestamp,
}

#[derive(Serialize, JsonSchema)]
pub struct EnvListOutput {
    pub app: String,
    /// Whether `value` holds plaintext.
    pub revealed: bool,
    pub vars: Vec<EnvVar>,
}

#[async_trait]
impl Tool for EnvSet {
    type Input = EnvSetInput;
    type Output = EnvSetOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "env_set",
            title: "Set an environment variable",
            description: "Set (create or replace) one environment variable of an app. The value is encrypted at \
                          rest and never echoed back. Takes effect at the app's next deployment.",
            safety: Safety::Write,
            permission: Permission::EnvWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Put, "/api/v1/apps/{app}/env/{key}")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: EnvSetInput) -> Result<EnvSetOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let created = ctx.services.master_key.seal_into(
            input.value.expose().as_bytes(),
            &env_context(&app.id, &input.key),
            |sealed| ctx.store().env_set(&app.id, &input.key, &sealed),
        )?;
        Ok(EnvSetOutput {
            app: app.name.to_string(),
            key: input.key.to_string(),
            created,
        })
    }
}

#[async_trait]
impl Tool for EnvUnset {
    type Input = EnvUnsetInput;
    type Output = EnvUnsetOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "env_unset",
            title: "Remove an environment variable",
            description: "Remove one environment variable of an app; its value is lost. Destructive: needs confirm \
                          equal to the variable's name.",
            safety: Safety::Destructive,
            permission: Permission::EnvWrite,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Delete, "/api/v1/apps/{app}/env/{key}")),
            idempotent: false,
        }
    }

    async fn confirmation_target(&self, ctx: &ToolContext, input: &EnvUnsetInput) -> Result<String, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        let exists = ctx.store().env_list(&app.id)?.iter().any(|v| v.key == input.key);
        if !exists {
            return Err(ToolError::not_found(format!(
                "variable `{}` of app `{}` not found",
                input.key, app.name
            )));
        }
        Ok(input.key.to_string())
    }

    async fn call(&self, ctx: &ToolContext, input: EnvUnsetInput) -> Result<EnvUnsetOutput, ToolError> {
        let app = ctx.store().app_find(&input.app)?;
        if !ctx.store().env_unset(&app.id, &input.key)? {
            return Err(ToolError::not_found(format!(
                "variable `{}` of app `{}` not found",
                input.key, app.name
            )));
        }
        Ok(EnvUnsetOutput {
            app: app.name.to_string(),
            key: input.key.to_string(),
        })
    }
}

#[async_trait]
impl Tool for EnvList {
    type Input = EnvListInput;
    type Output = EnvListOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "env_list",
            title: "List environment variables",
            description: "List an app's environment variable names, with values redacted. With reveal: true (an \
                          admin-scoped key) the values come back in plaintext: only ask for that when the user \
                          needs to see a value.",
            safety: Safety::Read,
            permission: Permission::EnvRead,
            target: Target::app("app"),
            http: Some(HttpRoute::new(Get, "/api/v1/apps/{app}/env")),
            idempotent: true,
        }
    }

    async fn call(&self, ctx: &ToolContext, input: EnvListInput) -> Result<EnvListOutput, ToolError> {
        if input.reveal {
            ctx.require(Permission::EnvReveal)?;
        }
        let app = ctx.store().app_find(&input.app)?;
        let vars = ctx
            .store()
            .env_list(&app.id)?
            .into_iter()
            .map(|v| {
                let value = if input.reveal {
                    let plain = ctx
                        .services
                        .master_key
                        .open(&v.sealed, &env_context(&app.id, &v.key))
                        .map_err(ToolError::internal)?;
                    Some(String::from_utf8(plain).map_err(ToolError::internal)?)
                } else {
                    None
                };
                Ok(EnvVar {
                    key: v.key.to_string(),
                    value,
                    updated_at: v.updated_at,
                })
            })
            .collect::<Result<_, ToolError>>()?;
        Ok(EnvListOutput {
            app: app.name.to_string(),
            revealed: input.reveal,
            vars,
        })
    }
}

//! `secrets_rotate`: a new master key, every stored secret re-sealed with it, without
//! downtime: while it runs, both keys open values and new values use the new key.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::{cert_context, env_context};
use crate::registry::HttpMethod::Post;
use crate::registry::{HttpRoute, Permission, Safety, Services, Target, Tool, ToolContext, ToolError, ToolMeta};
use crate::store::{ResealCounts, SealedRef};

pub struct SecretsRotate;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsRotateInput {}

#[derive(Serialize, JsonSchema)]
pub struct SecretsRotateOutput {
    /// What was re-sealed with the new key.
    pub resealed: ResealCounts,
}

/// Re-seals every stored value with the current key and ends the rotation. When it fails,
/// nothing stored changed (one transaction) and the rotation stays under way: both keys keep
/// working, and the next start, or the next call, finishes it.
pub fn complete_rotation(services: &Services) -> Result<ResealCounts, ToolError> {
    let key = &services.master_key;
    let counts = services.store.reseal_all(&mut |at, sealed| {
        let context = match at {
            SealedRef::Env { app, key } => env_context(app, key),
            SealedRef::CertKey { hostname, source } => cert_context(hostname, *source),
            // Sealed settings are bound to their own key (see `proxy::acme`).
            SealedRef::Setting { key } => key.clone(),
            SealedRef::Totp { user } => crate::auth::totp_context(user),
            SealedRef::Database { id } => crate::store::database_password_context(id),
            SealedRef::BackupKey { id } => crate::store::backup_key_context(id),
            SealedRef::DestinationSecret { name } => crate::store::destination_secret_context(name),
        };
        let plain = key.open(sealed, &context).map_err(|e| e.to_string())?;
        Ok(key.seal(&plain, &context))
    })?;
    key.finish_rotation().map_err(ToolError::internal)?;
    Ok(counts)
}

#[async_trait]
impl Tool for SecretsRotate {
    type Input = SecretsRotateInput;
    type Output = SecretsRotateOutput;

    fn meta(&self) -> ToolMeta {
        ToolMeta {
            name: "secrets_rotate",
            title: "Rotate the master key",
            description: "Replace the master key that encrypts every stored secret (environment values, \
                          certificate keys, the ACME account) and re-encrypt them all with the new one, while the \
                          server keeps serving. The old key is gone afterwards. A key given by SH0_MASTER_KEY \
                          cannot be rotated here.",
            safety: Safety::Write,
            permission: Permission::SecretsRotate,
            target: Target::Server,
            http: Some(HttpRoute::new(Post, "/api/v1/secrets/rotate")),
            idempotent: false,
        }
    }

    async fn call(&self, ctx: &ToolContext, _: SecretsRotateInput) -> Result<SecretsRotateOutput, ToolError> {
        let key = &ctx.services.master_key;
        let _one = key.rotation_lock().await;
        if !key.is_rotating() {
            key.begin_rotation()
                .map_err(|e| ToolError::new(crate::registry::ErrorKind::Unprocessable, e.to_string()))?;
        }
        Ok(SecretsRotateOutput {
            resealed: complete_rotation(&ctx.services)?,
        })
    }
}

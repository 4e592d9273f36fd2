//! Deliveries to deploy hooks: `POST /api/v1/hooks/{hook}` with the hook's token deploys
//! the hook's app, through dispatch, as the hook — permission, project, validation and
//! audit like any caller. The call is fixed (`app_deploy` of the hook's app): nothing in
//! the delivery's body chooses what runs. A refused delivery (unknown hook, wrong token,
//! maker removed) leaves an audit record too, so a hook being probed shows.

use serde_json::{Value, json};
use std::time::Instant;

use super::{Adapter, Credentials, Dispatcher, ErrorKind, ToolError};
use crate::domain::HookId;

/// The header that carries a hook's token.
pub const HOOK_TOKEN_HEADER: &str = "x-sh0-hook-token";

impl Dispatcher {
    /// Delivers to hook `hook` with `token`: deploys its app (the app's current source: its
    /// image, or its newest archive) and returns the deployment.
    pub async fn fire_hook(&self, hook: &str, token: Option<&str>) -> Result<Value, ToolError> {
        let started = Instant::now();
        let id = HookId::try_from(hook.to_owned()).ok();
        let app = match &id {
            Some(id) => self.services().store.hook_get(id)?.map(|(h, _)| h.app_id),
            None => None,
        };
        let creds = match (id, token) {
            (Some(hook), Some(token)) => Credentials::Hook {
                hook,
                token: token.to_owned(),
            },
            _ => Credentials::None,
        };
        let authenticated = match &creds {
            Credentials::Hook { .. } => self.authenticate(&creds).map(|_| ()),
            _ => Err(ToolError::new(
                ErrorKind::Unauthenticated,
                "the hook's URL or token is wrong",
            )),
        };
        if let Err(e) = authenticated {
            let label: String = hook.chars().take(40).collect();
            let refused: Result<(), ToolError> = Err(e.clone());
            self.record_as(
                &format!("hook:{label} (refused)"),
                Adapter::Hook,
                "app_deploy",
                &json!({}),
                &refused,
                started,
            )?;
            return Err(e);
        }
        let result = self
            .dispatch(&creds, Adapter::Hook, "app_deploy", json!({ "app": app }))
            .await;
        if result.is_ok()
            && let Credentials::Hook { hook, .. } = &creds
            && let Err(e) = self.services().store.hook_used(hook)
        {
            tracing::warn!(%hook, error = %e, "could not record the hook's use");
        }
        result
    }
}

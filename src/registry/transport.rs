//! Transports of tools: what cannot travel in a JSON tool call — an archive's bytes, a
//! live stream. Each is admitted here, through the same steps as a call of the tool it
//! serves (credentials, CSRF, permission, a pending 2FA enrolment, a limited key's reach,
//! project access) and leaves an audit record, before a byte of the body is read or a
//! WebSocket is upgraded. Adapters get only what they need to carry the bytes.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

use super::dispatch::csrf_missing;
use super::{Adapter, Credentials, Dispatcher, Principal, PrincipalId, ToolError};
use crate::domain::UploadId;

/// The tools an upload can be admitted for; the upload is theirs alone.
pub const UPLOAD_CONSUMERS: &[&str] = &["app_deploy", "project_check"];

/// An admitted upload: write the archive to `path`, then name `id` in the tool call.
#[derive(Debug)]
pub struct AdmittedUpload {
    pub id: UploadId,
    pub path: PathBuf,
}

impl Principal {
    /// Who the caller is as an account (uploads and per-user limits are counted by it): the user (through any of their keys or sessions), or the
    /// credential itself for the bootstrap key, which belongs to nobody.
    pub fn account_key(&self) -> String {
        match (&self.user, &self.id) {
            (Some(u), _) => format!("user:{u}"),
            (None, id @ PrincipalId::Key(_)) => id.to_string(),
            (None, id) => id.to_string(),
        }
    }
}

impl Dispatcher {
    /// Admits an upload for `tool` (one of [`UPLOAD_CONSUMERS`]), as a change: the caller
    /// must be allowed to call `tool` — on the project `args` names, when it names one —
    /// and a browser session must send its CSRF token. The staged file belongs to the
    /// caller and to `tool`, within the per-user quota. Audited as `upload` for `tool`.
    pub async fn admit_upload(
        &self,
        creds: &Credentials,
        adapter: Adapter,
        tool: &str,
        args: Value,
    ) -> Result<AdmittedUpload, ToolError> {
        let authenticated = super::authn::authenticate(self.services(), creds)?;
        let principal = authenticated.principal;
        let started = Instant::now();
        let consumer = UPLOAD_CONSUMERS.iter().find(|t| **t == tool).copied();
        let result = (|| {
            let Some(consumer) = consumer else {
                return Err(ToolError::invalid(format!(
                    "uploads are for {}; `for` names `{}`",
                    UPLOAD_CONSUMERS.join(" or "),
                    tool.chars().take(64).collect::<String>()
                )));
            };
            if !super::authn::csrf_passes(authenticated.csrf.as_ref()) {
                return Err(csrf_missing());
            }
            let desc = self
                .registry()
                .get(consumer)
                .ok_or_else(|| ToolError::internal("an upload consumer is not registered"))?;
            Self::authorize(&principal, desc.meta())?;
            super::access::check(&self.services().store, &principal, desc.meta(), &args)?;
            let (id, path) = self
                .services()
                .deployer
                .uploads()
                .reserve(&principal.account_key(), consumer)
                .map_err(|e| match e {
                    crate::deploy::UploadError::Quota => {
                        ToolError::quota(e.to_string(), std::time::Duration::from_secs(60))
                    }
                    other => ToolError::internal(other),
                })?;
            Ok(AdmittedUpload { id, path })
        })();
        let mut audited = json!({ "for": tool });
        if let (Value::Object(m), Value::Object(a)) = (&mut audited, &args) {
            m.extend(a.clone());
        }
        if let Ok(u) = &result {
            audited["upload"] = json!(u.id);
        }
        if let Err(e) = self.record(&principal, adapter, "upload", &audited, &result, started) {
            if let Ok(u) = &result {
                self.discard_upload(&u.id);
            }
            return Err(e);
        }
        result
    }

    /// Gives up an admitted upload (its transfer failed, or nothing consumed it).
    pub fn discard_upload(&self, id: &UploadId) {
        self.services().deployer.uploads().discard(id);
    }

    /// Admits a stream of `tool`'s data (a WebSocket): a browser session must come from
    /// the server's own origin (no cross-site WebSocket hijacking), and the snapshot call
    /// `tool(args)` must succeed for the caller — its permission, project access and audit
    /// record are the stream's. Returns the snapshot.
    pub async fn admit_stream(
        &self,
        creds: &Credentials,
        adapter: Adapter,
        tool: &str,
        args: Value,
    ) -> Result<Value, ToolError> {
        if let Credentials::Session { same_origin: false, .. } = creds {
            let principal = super::authn::authenticate(self.services(), creds)?.principal;
            let refused: Result<(), ToolError> = Err(ToolError::forbidden(
                "a browser session opens streams only from the server's own pages (the Origin must be this server)",
            ));
            self.record(
                &principal,
                adapter,
                tool,
                &json!({ "stream": "refused: origin" }),
                &refused,
                Instant::now(),
            )?;
            return refused.map(|_| Value::Null);
        }
        self.dispatch(creds, adapter, tool, args).await
    }
}

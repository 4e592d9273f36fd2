//! Transports of tools: what cannot travel in a JSON tool call — an archive's bytes, a
//! live stream. Each is admitted here, through the same steps as a call of the tool it
//! serves (credentials, CSRF, permission, a pending 2FA enrolment, a limited key's reach,
//! project access) and leaves an audit record, before a byte of the body is read or a
//! WebSocket is upgraded. Adapters get only what they need to carry the bytes.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

use super::dispatch::csrf_missing;
use super::{Adapter, Credentials, Dispatcher, Principal, ToolError};
use crate::domain::{DeploymentId, UploadId};

/// The largest archive an upload endpoint accepts (its unpacked size has the same limit).
pub const MAX_UPLOAD_BYTES: u64 = crate::deploy::archive::MAX_UNPACKED;

/// The tools an upload can be admitted for; the upload is theirs alone.
pub const UPLOAD_CONSUMERS: &[&str] = &["app_deploy", "project_check"];

/// An admitted upload: write the archive to `path`, then name `id` in the tool call.
/// Dropped before [`AdmittedUpload::keep`] (a failed or abandoned transfer, a client that
/// went away), it is discarded at once, so it holds no quota.
pub struct AdmittedUpload {
    pub id: UploadId,
    pub path: PathBuf,
    deployer: Option<crate::deploy::Deployer>,
}

impl AdmittedUpload {
    /// The transfer is complete: the upload waits for its tool call.
    pub fn keep(mut self) -> UploadId {
        self.deployer = None;
        self.id.clone()
    }
}

impl Drop for AdmittedUpload {
    fn drop(&mut self) {
        if let Some(d) = self.deployer.take() {
            d.uploads().discard(&self.id);
        }
    }
}

impl Principal {
    /// Who the caller is as an account (uploads and per-user limits are counted by it): the user (through any of their keys or sessions), or the
    /// credential itself for the bootstrap key, which belongs to nobody.
    pub fn account_key(&self) -> String {
        match &self.user {
            Some(u) => format!("user:{u}"),
            None => self.id.to_string(),
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
            Ok(AdmittedUpload {
                id,
                path,
                deployer: Some(self.services().deployer.clone()),
            })
        })();
        let mut audited = json!({ "for": tool });
        if let (Value::Object(m), Value::Object(a)) = (&mut audited, &args) {
            m.extend(a.clone());
        }
        if let Ok(u) = &result {
            audited["upload"] = json!(u.id);
        }
        // On a failed record the admitted upload is dropped, and with it discarded.
        self.record(&principal, adapter, "upload", &audited, &result, started)?;
        result
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

impl Dispatcher {
    /// The build log of a deployment from line `from` on, live, for a stream the caller
    /// was admitted to (see [`Dispatcher::admit_stream`]): `{"pos", "line"}` for each line,
    /// then `{"end": true, "status", "error"}`. Dropping the receiver ends it.
    pub fn deployment_log_stream(&self, id: DeploymentId, from: i64) -> tokio::sync::mpsc::Receiver<Value> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let services = self.services().clone();
        tokio::spawn(async move {
            let mut next = from;
            let mut live = services.deployer.logs().subscribe(&id);
            loop {
                // Everything stored from `next` on, then wait for more.
                let Ok(lines) = services.store.deployment_log_read(&id, next, 1000) else {
                    return;
                };
                for l in lines {
                    next = l.pos + 1;
                    if tx.send(json!({ "pos": l.pos, "line": l.line })).await.is_err() {
                        return;
                    }
                }
                let Ok(row) = services.store.deployment_get(&id) else {
                    return;
                };
                if !row.deployment.status.is_active() {
                    // Lines written between the read and the status check.
                    if let Ok(rest) = services.store.deployment_log_read(&id, next, 100_000) {
                        for l in rest {
                            if tx.send(json!({ "pos": l.pos, "line": l.line })).await.is_err() {
                                return;
                            }
                        }
                    }
                    let end =
                        json!({ "end": true, "status": row.deployment.status.as_str(), "error": row.deployment.error });
                    let _ = tx.send(end).await;
                    return;
                }
                // Wake on a new line, the end, or after a second (the store is the source of truth).
                tokio::select! {
                    _ = tx.closed() => return,
                    got = tokio::time::timeout(std::time::Duration::from_secs(1), live.recv()) => {
                        if let Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) = got {
                            live = services.deployer.logs().subscribe(&id);
                        }
                    }
                }
            }
        });
        rx
    }
}

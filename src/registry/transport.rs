//! Transports of tools: what cannot travel in a JSON tool call — an archive's bytes, a
//! live stream. Each is admitted here, through the same steps as a call of the tool it
//! serves (credentials, CSRF, permission, a pending 2FA enrolment, a limited key's reach,
//! project access) and leaves an audit record, before a byte of the body is read or a
//! WebSocket is upgraded. Adapters get only what they need to carry the bytes.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Instant;

use super::dispatch::csrf_missing;
use super::{Adapter, Credentials, Dispatcher, Principal, ToolError, Transport};
use crate::domain::{JobId, UploadId};

/// The largest archive an upload endpoint accepts (its unpacked size has the same limit).
pub const MAX_UPLOAD_BYTES: u64 = crate::deploy::archive::MAX_UNPACKED;

/// An admitted log stream: follow `job` from line `from`.
#[derive(Debug, Clone)]
pub struct LogFollow {
    pub job: JobId,
    pub from: i64,
}

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
    /// The tools an upload can be admitted for (those declaring an upload transport).
    pub fn upload_consumers(&self) -> Vec<&'static str> {
        self.registry()
            .iter()
            .filter(|d| d.transports().iter().any(|t| matches!(t, Transport::Upload { .. })))
            .map(|d| d.meta().name)
            .collect()
    }

    /// Admits an upload for `tool` (one that declares an upload transport), as a change: the caller
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
        let consumers = self.upload_consumers();
        let consumer = consumers.iter().find(|t| **t == tool).copied();
        let result = (|| {
            let Some(consumer) = consumer else {
                return Err(ToolError::invalid(format!(
                    "uploads are for {}; `for` names `{}`",
                    consumers.join(" or "),
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

    /// Admits a log stream of `tool` (which must declare one): a browser session must come
    /// from the server's own origin (no cross-site WebSocket hijacking), and the snapshot
    /// call `tool(args)` must succeed for the caller — its permission, project access and
    /// audit record are the stream's. Returns the job to follow, found in the snapshot.
    pub async fn admit_log_stream(
        &self,
        creds: &Credentials,
        adapter: Adapter,
        tool: &str,
        args: Value,
        from: i64,
    ) -> Result<LogFollow, ToolError> {
        let pointer = self.registry().get(tool).and_then(|d| {
            d.transports().iter().find_map(|t| match t {
                Transport::LogStream { job, .. } => Some(job),
                Transport::Upload { .. }
                | Transport::Hook { .. }
                | Transport::Webhook { .. }
                | Transport::GitPush { .. }
                | Transport::EventStream { .. } => None,
            })
        });
        let Some(pointer) = pointer else {
            return Err(ToolError::not_found(format!(
                "`{}` has no log stream",
                tool.chars().take(64).collect::<String>()
            )));
        };
        if let Credentials::Session { same_origin: false, .. } = creds {
            let principal = super::authn::authenticate(self.services(), creds)?.principal;
            let refused = ToolError::forbidden(
                "a browser session opens streams only from the server's own pages (the Origin must be this server)",
            );
            self.record(
                &principal,
                adapter,
                tool,
                &json!({ "stream": "refused: origin" }),
                &Err::<(), _>(refused.clone()),
                Instant::now(),
            )?;
            return Err(refused);
        }
        let snapshot = self.dispatch(creds, adapter, tool, args).await?;
        let job = snapshot
            .pointer(pointer)
            .and_then(Value::as_str)
            .and_then(|j| JobId::try_from(j.to_owned()).ok())
            .ok_or_else(|| ToolError::not_found("this has no log to follow (it was made before logs were kept)"))?;
        Ok(LogFollow { job, from: from.max(0) })
    }
}

impl Dispatcher {
    /// The log of a job from line `from` on, live, for a stream the caller was admitted to
    /// (see [`Dispatcher::admit_log_stream`]): `{"pos", "line"}` for each line, then
    /// `{"end": true, "job", "status", "error"}` with the job's final status. Dropping the
    /// receiver ends it.
    pub fn job_log_stream(&self, follow: LogFollow) -> tokio::sync::mpsc::Receiver<Value> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let services = self.services().clone();
        let LogFollow { job: id, from } = follow;
        tokio::spawn(async move {
            let hub = services.jobs.logs().clone();
            let mut next = from;
            // Subscribed only while the job runs (a finished job has no live lines).
            let mut live = None;
            loop {
                // Everything stored from `next` on, then wait for more.
                let Ok(lines) = services.store.job_log_read(&id, next, 1000) else {
                    return;
                };
                for l in lines {
                    next = l.pos + 1;
                    if tx.send(json!({ "pos": l.pos, "line": l.line })).await.is_err() {
                        return;
                    }
                }
                let row = match services.store.job_get(&id) {
                    Ok(Some(row)) => row,
                    Ok(None) => {
                        let end =
                            json!({ "end": true, "job": id, "status": null, "error": "the job no longer exists" });
                        let _ = tx.send(end).await;
                        return;
                    }
                    Err(_) => return,
                };
                if !row.status.is_active() {
                    if live.is_some() {
                        // The job's end may have raced the subscription: no channel is left behind.
                        hub.finish(&id);
                    }
                    // Lines written between the read and the status check.
                    if let Ok(rest) = services.store.job_log_read(&id, next, 100_000) {
                        for l in rest {
                            if tx.send(json!({ "pos": l.pos, "line": l.line })).await.is_err() {
                                return;
                            }
                        }
                    }
                    let end = json!({ "end": true, "job": id, "status": row.status, "error": row.error });
                    let _ = tx.send(end).await;
                    return;
                }
                let Some(rx) = live.as_mut() else {
                    // Subscribe, then read again: nothing written in between is missed.
                    live = Some(hub.subscribe(&id));
                    continue;
                };
                // Wake on a new line, the end, or after a second (the store is the source of truth).
                tokio::select! {
                    _ = tx.closed() => return,
                    got = tokio::time::timeout(std::time::Duration::from_secs(1), rx.recv()) => {
                        if let Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) = got {
                            live = None;
                        }
                    }
                }
            }
        });
        rx
    }
}

//! Following things for a client: resource subscriptions (`resources/subscribe` in a
//! 2025-11-25 session, `subscriptions/listen` from 2026-07-28) and the progress of long
//! tools. Nothing here cancels what it follows: a client that goes away stops being told,
//! and the deployment goes on (it is a job of its own).

use rmcp::model::{ProgressNotificationParam, ProgressToken, ResourceUpdatedNotificationParam};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Backend;
use super::logging::{Level, LogLevel};
use super::resources::{self, Content, Sh0Resource};
use crate::registry::ToolError;

/// How often a resource without a live feed (an app's logs, a configuration) is read again
/// to see whether it changed. Each of those reads is a call, checked and audited.
const POLL: Duration = Duration::from_secs(3);

/// How long a subscription to a resource without a live feed lasts: a client that wants
/// more subscribes again, and a session its client abandoned stops polling.
const POLLED_LIFETIME: Duration = Duration::from_secs(3600);

/// The tools whose result names a deployment that a progress token can follow.
pub const FOLLOWED_TOOLS: &[&str] = &["app_deploy", "app_restart", "app_rollback"];

/// What one MCP session holds: its subscriptions, each a running watcher.
#[derive(Default)]
pub struct Subscriptions(Mutex<HashMap<String, CancellationToken>>);

impl Subscriptions {
    /// Starts watching `uri` for the session; an existing subscription is kept as it is.
    pub fn add<B: Backend>(&self, backend: std::sync::Arc<B>, ctx: RequestContext<RoleServer>, res: Sh0Resource) {
        let uri = res.uri();
        let stop = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&uri).is_some_and(|t| !t.is_cancelled()) {
                return;
            }
            let stop = CancellationToken::new();
            map.insert(uri.clone(), stop.clone());
            stop
        };
        tokio::spawn(async move {
            let peer = ctx.peer.clone();
            let notify = || {
                let peer = peer.clone();
                let uri = uri.clone();
                async move {
                    peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri))
                        .await
                        .is_ok()
                }
            };
            if let Err(e) = watch(&*backend, &ctx, &res, stop.clone(), notify).await {
                tracing::debug!(uri = %res.uri(), error = %e.message, "subscription ended");
            }
            stop.cancel();
        });
    }

    pub fn remove(&self, uri: &str) {
        if let Some(t) = self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(uri) {
            t.cancel();
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for t in self.0.lock().unwrap_or_else(|e| e.into_inner()).values() {
            t.cancel();
        }
    }
}

/// Calls `updated` each time `res` changes, until it can change no more (a deployment that
/// ended), `stop` is cancelled, or `updated` says the client is gone.
pub async fn watch<B, F, Fut>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    res: &Sh0Resource,
    stop: CancellationToken,
    mut updated: F,
) -> Result<(), ToolError>
where
    B: Backend,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    if let Sh0Resource::DeploymentLog(dep) = res {
        let mut feed = backend.follow_deployment(ctx, dep).await?;
        loop {
            let message = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                m = feed.recv() => m,
            };
            let Some(mut m) = message else { return Ok(()) };
            // Lines come in bursts: one notification for all that are waiting.
            while m.get("end").is_none() {
                match feed.try_recv() {
                    Ok(next) => m = next,
                    Err(_) => break,
                }
            }
            if !updated().await || m.get("end").is_some() {
                return Ok(());
            }
        }
    }
    // Each read is a call as the caller: a revoked key or an expired token ends it.
    let mut last = fingerprint(&resources::content(backend, ctx, res).await?);
    let until = tokio::time::Instant::now() + POLLED_LIFETIME;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(until) => return Ok(()),
            _ = tokio::time::sleep(POLL) => {}
        }
        let now = fingerprint(&resources::content(backend, ctx, res).await?);
        if now != last {
            last = now;
            if !updated().await {
                return Ok(());
            }
        }
    }
}

fn fingerprint(c: &Content) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match c {
        Content::Json(v) => v.to_string().hash(&mut h),
        Content::Text(t) => t.hash(&mut h),
    }
    h.finish()
}

/// Follows the deployment a long tool started, sending each log line as a progress
/// notification, and returns the tool's result with the deployment's final status. A
/// client that disconnects stops the following, not the deployment.
pub async fn follow_progress<B: Backend>(
    backend: &B,
    ctx: &RequestContext<RoleServer>,
    log: &LogLevel,
    token: ProgressToken,
    mut result: Value,
) -> Result<Value, ErrorData> {
    let Some(dep) = result["deployment_id"].as_str().map(str::to_owned) else {
        return Ok(result);
    };
    let mut feed = match backend.follow_deployment(ctx, &dep).await {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!(error = %e.message, "cannot follow the deployment");
            return Ok(result);
        }
    };
    let mut n = 0u32;
    let send = |n: u32, message: String| {
        let peer = ctx.peer.clone();
        let token = token.clone();
        async move {
            let mut p = ProgressNotificationParam::new(token, f64::from(n));
            p.message = Some(message);
            peer.notify_progress(p).await.is_ok()
        }
    };
    send(0, format!("deployment {dep} started")).await;
    loop {
        let message = tokio::select! {
            _ = ctx.ct.cancelled() => return Ok(result),
            m = feed.recv() => m,
        };
        let Some(m) = message else { break };
        if m.get("end").is_some() {
            break;
        }
        if let Some(line) = m["line"].as_str() {
            n += 1;
            let data = json!({ "deployment": dep, "untrusted_line": line });
            log.send(&ctx.peer, Level::Info, data).await;
            // Build output is the app's text: say so, as everywhere it is shown.
            if !send(n, format!("[untrusted build output] {line}")).await {
                return Ok(result);
            }
        }
    }
    if let Ok(done) = backend
        .call(ctx, "deployment_get", json!({ "deployment": dep, "log_limit": 1 }))
        .await
    {
        let status = done["deployment"]["status"].clone();
        send(
            n + 1,
            format!("deployment {dep}: {}", status.as_str().unwrap_or("ended")),
        )
        .await;
        result["status"] = status;
    }
    Ok(result)
}

/// 2026-07-28 `subscriptions/listen`: watches each accepted resource, as the caller, and
/// ends gracefully once none of them can change any more (every deployment followed has
/// ended), or when the client cancels. A resource the caller may not read ends the
/// subscription with that error.
pub async fn listen<B: Backend>(backend: &B, context: SubscriptionContext) -> Result<(), ErrorData> {
    let ctx = context.request_context().clone();
    let uris = context.accepted().resource_subscriptions.clone().unwrap_or_default();
    let mut watched = Vec::new();
    for uri in &uris {
        let Some(res) = Sh0Resource::parse(uri) else { continue };
        resources::content(backend, &ctx, &res)
            .await
            .map_err(|e| resources::read_error(&ctx, uri, e))?;
        watched.push(res);
    }
    if watched.is_empty() {
        context.cancelled().await;
        return Ok(());
    }
    let stop = CancellationToken::new();
    let watchers = watched.iter().map(|res| {
        let sink = context.sink().clone();
        let uri = res.uri();
        let ctx = &ctx;
        let stop = stop.clone();
        async move {
            let notify = || {
                let sink = sink.clone();
                let uri = uri.clone();
                async move { sink.notify_resource_updated(uri).await.is_ok() }
            };
            watch(backend, ctx, res, stop, notify).await
        }
    });
    let all = futures::future::join_all(watchers);
    tokio::select! {
        _ = context.cancelled() => { stop.cancel(); Ok(()) }
        results = all => {
            for r in results {
                r.map_err(|e| ErrorData::internal_error(e.message, None))?;
            }
            Ok(())
        }
    }
}

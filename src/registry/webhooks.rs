//! Deliveries to an app's git webhook (`POST /api/v1/apps/{app}/webhook`). Every delivery
//! is recorded (`webhook_deliveries`) with its verdict: unsigned, badly signed, too large,
//! replayed (the same delivery id or the same body as an accepted one) or malformed ones
//! start nothing. A verified delivery acts through dispatch as the webhook's hook — its
//! maker's role at most, its app's project only, audited as `hook:<id>` — with calls the
//! payload fixes: `app_deploy` of the pushed commit on the tracked branch,
//! `preview_deploy` / `preview_close` for pull requests against it. A push while the app
//! deploys waits, and a burst of pushes deploys only the latest commit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Adapter, Credentials, Dispatcher, ErrorKind, ToolError};
use crate::domain::{AppId, DeliveryVerdict, DeploymentId, Forge, ResourceRef};
use crate::git::forge::{self, Event, PullAction};
use crate::store::{NewDelivery, webhook_secret_setting};

/// The largest delivery sh0 reads.
pub const MAX_WEBHOOK_BODY: usize = 2 * 1024 * 1024;

/// How long a queued push waits for the app's running deployment.
const QUEUE_WAIT: Duration = Duration::from_secs(3600);

/// A delivery's body, or the fact that it was too large to read.
pub enum WebhookBody {
    Bytes(bytes::Bytes),
    TooLarge,
}

/// Calls waiting for an app's deployment to end, by (app, pull request number or 0): the
/// latest replaces the earlier, so a burst deploys once.
#[derive(Default)]
pub struct PendingDeploys {
    queued: Mutex<HashMap<(AppId, u32), Queued>>,
    /// Held from "is the app deploying?" to the call that starts a deployment, so two
    /// deliveries (or a delivery and the queue) never both decide to start one.
    turn: tokio::sync::Mutex<()>,
}

struct Queued {
    tool: &'static str,
    args: Value,
    delivery: i64,
}

impl Dispatcher {
    /// Handles one delivery; the answer is what the forge shows in its delivery log.
    pub async fn git_webhook(
        &self,
        app: &str,
        headers: &HashMap<String, String>,
        body: WebhookBody,
    ) -> Result<Value, ToolError> {
        let store = &self.services().store;
        let started = Instant::now();
        let label: String = app.chars().take(40).collect();
        // Refusals are audited like a deploy hook's, so a webhook being probed shows; an
        // unknown URL and a wrong signature get the same answer.
        let refuse = |why: &str| -> ToolError {
            let e = ToolError::new(ErrorKind::Unauthenticated, why);
            let refused: Result<(), ToolError> = Err(e.clone());
            if let Err(a) = self.record_as(
                &format!("webhook:{label} (refused)"),
                Adapter::Hook,
                "app_deploy",
                &json!({}),
                &refused,
                started,
            ) {
                return a;
            }
            e
        };
        const UNKNOWN: &str = "no webhook at this URL, or a wrong signature";
        let Some(app) = AppId::try_from(app.to_owned())
            .ok()
            .and_then(|id| store.app_find(&ResourceRef::App(id)).ok())
        else {
            return Err(refuse(UNKNOWN));
        };
        let (Some(hook), Some(secret)) = (store.git_webhook_hook(&app.id)?, self.webhook_secret(&app.id)?) else {
            return Err(refuse(UNKNOWN));
        };
        let forge = forge::detect(headers);
        let (event, delivery) = forge::event_and_id(forge, headers);
        let record = |verdict: DeliveryVerdict, digest: Option<&str>, outcome: &str| {
            store.delivery_insert(&NewDelivery {
                app: &app.id,
                forge,
                event: &event,
                delivery: delivery.as_deref(),
                body_digest: digest,
                verdict,
                outcome,
                deployment: None,
            })
        };
        let WebhookBody::Bytes(body) = body else {
            record(DeliveryVerdict::TooLarge, None, "refused unread")?;
            return Err(ToolError::invalid(format!(
                "the delivery is larger than {} MiB",
                MAX_WEBHOOK_BODY / 1024 / 1024
            )));
        };
        let verdict = forge::verify(forge, headers, &body, &secret);
        if verdict != DeliveryVerdict::Accepted {
            let why = match (forge, verdict) {
                (Forge::Unknown, _) => "no forge's headers: refused",
                (_, DeliveryVerdict::Unsigned) => "no signature: refused",
                _ => "the signature does not match the webhook's secret: refused",
            };
            record(verdict, None, why)?;
            return Err(refuse(why));
        }
        let digest = hex::encode(Sha256::digest(&body));
        let mut keys = vec![format!("body:{digest}")];
        keys.extend(delivery.as_ref().map(|d| format!("id:{}:{d}", forge.as_str())));
        if !store.delivery_claim(&app.id, &keys)? {
            record(
                DeliveryVerdict::Replayed,
                Some(&digest),
                "already received: nothing started",
            )?;
            return Ok(json!({ "status": "replayed", "started": null }));
        }
        let parsed = match forge::parse(forge, &event, &body) {
            Ok(e) => e,
            Err(why) => {
                record(DeliveryVerdict::Malformed, Some(&digest), &why)?;
                return Err(ToolError::invalid(why));
            }
        };
        let id = record(DeliveryVerdict::Accepted, Some(&digest), "received")?;
        let creds = Credentials::Hook { hook, token: secret };
        let outcome = self.act(&app, &creds, parsed, id).await;
        let (text, dep) = match &outcome {
            Ok((text, dep)) => (text.clone(), dep.clone()),
            Err(e) => (format!("failed: {}", e.message), None),
        };
        if outcome.is_err() {
            // Nothing started: the forge's redelivery is welcome.
            store.delivery_release(&app.id, &keys)?;
        }
        store.delivery_set_outcome(id, &text, dep.as_ref())?;
        outcome.map(|(text, dep)| json!({ "status": "accepted", "outcome": text, "deployment_id": dep }))
    }

    /// What a verified event does; returns the outcome to record.
    async fn act(
        &self,
        app: &crate::domain::App,
        creds: &Credentials,
        event: Event,
        delivery: i64,
    ) -> Result<(String, Option<DeploymentId>), ToolError> {
        let store = &self.services().store;
        let Some(source) = store.git_source_get(&app.id)? else {
            return Ok(("ignored: the app has no git repository (app_git_set)".into(), None));
        };
        let tracked = source.branch.as_str();
        match event {
            Event::Ping => Ok(("ping: the webhook works".into(), None)),
            Event::Other(e) => Ok((format!("ignored: `{e}` is not an event sh0 acts on"), None)),
            Event::Push { branch, .. } if branch != tracked => Ok((
                format!("ignored: a push to `{branch}`; the app deploys `{tracked}`"),
                None,
            )),
            Event::Push { sha: None, .. } => Ok(("ignored: the branch was deleted".into(), None)),
            Event::Push { sha: Some(sha), .. } => {
                let args = json!({ "app": app.id, "commit": sha });
                self.deploy_or_queue(creds, &app.id, 0, &app.id, "app_deploy", args, delivery)
                    .await
            }
            Event::Pull {
                number,
                from_fork: true,
                action: PullAction::Open | PullAction::Update,
                ..
            } => Ok((
                format!(
                    "ignored: request #{number} comes from another repository; previews build only branches of the \
                     app's own repository (they get its environment)"
                ),
                None,
            )),
            Event::Pull { base, number, .. } if base != tracked => Ok((
                format!("ignored: request #{number} targets `{base}`; the app deploys `{tracked}`"),
                None,
            )),
            Event::Pull {
                number,
                action: PullAction::Close,
                ..
            } => {
                // After any queued or starting preview deployment of it, never before.
                let _turn = self.services().git_pending.turn.lock().await;
                self.pending()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(app.id.clone(), number));
                let name = format!("pr-{number}-{}", app.name).chars().take(63).collect::<String>();
                let out = self
                    .dispatch(
                        creds,
                        Adapter::Hook,
                        "preview_close",
                        json!({ "app": app.id, "number": number, "confirm": name.trim_end_matches('-') }),
                    )
                    .await?;
                Ok(match out["deleted"].as_str() {
                    Some(d) => (format!("closed #{number}: removed preview `{d}`"), None),
                    None => (format!("closed #{number}: it had no preview"), None),
                })
            }
            Event::Pull {
                number,
                head_branch,
                head_sha,
                ..
            } => {
                let mut args = json!({ "app": app.id, "number": number });
                if let Some(b) = head_branch {
                    args["branch"] = json!(b);
                }
                if let Some(s) = head_sha {
                    args["commit"] = json!(s);
                }
                let preview = store
                    .preview_list(&app.id)?
                    .into_iter()
                    .find(|p| p.number == number)
                    .map(|p| p.app_id);
                let busy_app = preview.unwrap_or_else(|| app.id.clone());
                self.deploy_or_queue(creds, &busy_app, number, &app.id, "preview_deploy", args, delivery)
                    .await
            }
        }
    }

    /// Calls `tool` now when `busy_app` has no deployment running; otherwise queues the call
    /// (replacing any queued for the same app and request) for when it ends.
    #[allow(clippy::too_many_arguments)]
    async fn deploy_or_queue(
        &self,
        creds: &Credentials,
        busy_app: &AppId,
        number: u32,
        app: &AppId,
        tool: &'static str,
        args: Value,
        delivery: i64,
    ) -> Result<(String, Option<DeploymentId>), ToolError> {
        let store = &self.services().store;
        let _turn = self.services().git_pending.turn.lock().await;
        if let Some(active) = store.deployment_active(busy_app)? {
            let key = (app.clone(), number);
            let first = {
                let mut pending = self.pending().lock().unwrap_or_else(|p| p.into_inner());
                let first = !pending.contains_key(&key);
                if let Some(replaced) = pending.insert(key.clone(), Queued { tool, args, delivery }) {
                    let _ = store.delivery_set_outcome(
                        replaced.delivery,
                        "superseded by a newer delivery before it started",
                        None,
                    );
                }
                first
            };
            if first {
                tokio::spawn(self.clone().run_queued(creds.clone(), busy_app.clone(), key));
            }
            return Ok((
                format!(
                    "queued: deployment {} is running; the latest commit deploys when it ends",
                    active.id
                ),
                None,
            ));
        }
        let out = self.dispatch(creds, Adapter::Hook, tool, args).await?;
        Ok(started(tool, &out))
    }

    /// Waits for `busy_app`'s deployment to end, then makes the latest queued call.
    async fn run_queued(self, creds: Credentials, busy_app: AppId, key: (AppId, u32)) {
        let store = self.services().store.clone();
        let deadline = tokio::time::Instant::now() + QUEUE_WAIT;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _turn = self.services().git_pending.turn.lock().await;
            let idle = matches!(store.deployment_active(&busy_app), Ok(None));
            if !idle && tokio::time::Instant::now() < deadline {
                continue;
            }
            let Some(queued) = self.pending().lock().unwrap_or_else(|p| p.into_inner()).remove(&key) else {
                return; // the request was closed meanwhile
            };
            let result = self
                .dispatch(&creds, Adapter::Hook, queued.tool, queued.args.clone())
                .await;
            if let Err(e) = &result
                && e.kind == ErrorKind::Conflict
                && tokio::time::Instant::now() < deadline
            {
                // Someone else started a deployment first: wait for that one too.
                self.pending()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), queued);
                continue;
            }
            let (text, dep) = match result {
                Ok(out) => started(queued.tool, &out),
                Err(e) => (format!("failed: {}", e.message), None),
            };
            if let Err(e) = store.delivery_set_outcome(queued.delivery, &text, dep.as_ref()) {
                tracing::warn!(error = %e, "could not record a delivery's outcome");
            }
            return;
        }
    }

    fn pending(&self) -> &Mutex<HashMap<(AppId, u32), Queued>> {
        &self.services().git_pending.queued
    }

    /// The app's webhook secret, opened.
    fn webhook_secret(&self, app: &AppId) -> Result<Option<String>, ToolError> {
        let key = webhook_secret_setting(app);
        let Some(value) = self.services().store.setting_get(&key)? else {
            return Ok(None);
        };
        let plain = self
            .services()
            .master_key
            .open_setting(&key, &value)
            .map_err(|e| ToolError::internal(e.to_string()))?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|e| ToolError::internal(e.to_string()))
    }
}

/// The outcome of a call that started a deployment.
fn started(tool: &str, out: &Value) -> (String, Option<DeploymentId>) {
    let dep = out["deployment_id"]
        .as_str()
        .and_then(|d| DeploymentId::try_from(d.to_owned()).ok());
    let text = match tool {
        "preview_deploy" => format!(
            "deploying preview `{}` at {}",
            out["preview"].as_str().unwrap_or_default(),
            out["url"].as_str().unwrap_or_default()
        ),
        _ => "deploying the pushed commit".to_owned(),
    };
    (text, dep)
}

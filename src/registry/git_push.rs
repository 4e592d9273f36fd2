//! `git push` to sh0 over smart HTTP: `git remote add sh0 <server>/git/<app>.git`, then
//! `git push sh0 main`. The caller is an API key (the HTTP Basic password) admitted as a
//! call of `app_deploy` on the app — its scope, role, project and audit — before git sees a
//! byte; git's own `receive-pack` takes the push into sh0's repository of the app, and a
//! push to the deployed branch calls `app_deploy` with the pushed commit. The build log is
//! streamed back as the git client's `remote:` lines until the deployment ends.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{SinkExt, Stream};
use serde_json::{Value, json};

use super::{Adapter, Credentials, Dispatcher, ToolError};
use crate::domain::{App, DeploymentId, ResourceName, ResourceRef};
use crate::git::pkt_line;

/// A `remote:` line for the git client: a side-band packet on band 2.
fn say(line: String) -> Result<Bytes, std::io::Error> {
    let mut data = vec![2u8];
    data.extend(line.chars().take(2000).collect::<String>().into_bytes());
    data.push(b'\n');
    Ok(Bytes::from(pkt_line(&data)))
}

/// A streamed answer to a push.
pub type PushStream = futures::channel::mpsc::Receiver<Result<Bytes, std::io::Error>>;

impl Dispatcher {
    /// Admits `creds` to push to `repo` (`<app>.git`): the app must be one they may deploy.
    /// A refusal is audited like any refused call.
    async fn admit_push(&self, creds: &Credentials, repo: &str) -> Result<App, ToolError> {
        let started = Instant::now();
        let principal = self.authenticate(creds)?;
        let name: String = repo.strip_suffix(".git").unwrap_or(repo).chars().take(64).collect();
        let deploy = self.tool("app_deploy")?.meta();
        // The checks dispatch makes, in its order: the permission, then the app (one outside
        // the caller's projects answers like one that does not exist).
        let admitted = if !principal.may_call(deploy) {
            Err(ToolError::forbidden(format!(
                "this key may not deploy app `{name}`: pushing deploys, which needs a key with the write scope \
                 and a developer role or above"
            )))
        } else {
            ResourceName::parse(&name)
                .ok()
                .and_then(|n| self.services().store.app_find(&ResourceRef::Name(n)).ok())
                .filter(|a| principal.reaches(&a.project_id))
                .ok_or_else(|| ToolError::not_found(format!("app `{name}` not found")))
        };
        self.record(
            &principal,
            Adapter::Git,
            "git_push",
            &json!({ "app": name, "for": "app_deploy" }),
            &admitted,
            started,
        )?;
        admitted
    }

    /// `GET /git/<app>.git/info/refs?service=git-receive-pack`.
    pub async fn git_advertise(&self, creds: &Credentials, repo: &str) -> Result<Vec<u8>, ToolError> {
        let app = self.admit_push(creds, repo).await?;
        self.services()
            .deployer
            .push_repo(&app.id)
            .advertise()
            .await
            .map_err(|e| ToolError::internal(e.to_string()))
    }

    /// `POST /git/<app>.git/git-receive-pack`: takes the push, then deploys a push to the
    /// app's branch, streaming its log as side-band messages.
    pub async fn git_receive<S, E>(&self, creds: &Credentials, repo: &str, body: S) -> Result<PushStream, ToolError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let app = self.admit_push(creds, repo).await?;
        let store = &self.services().store;
        let branch = store
            .git_source_get(&app.id)?
            .map(|s| s.branch.to_string())
            .unwrap_or_else(|| "main".into());
        let (report, updates) = self
            .services()
            .deployer
            .push_repo(&app.id)
            .receive(body)
            .await
            .map_err(|e| ToolError::invalid(e.to_string()))?;
        // With side-band, every packet git sends starts with its band (1 data, 2 progress,
        // 3 error); without it, the report's first line is `unpack …`.
        let sideband = report.get(4).is_some_and(|b| (1..=3).contains(b));
        let (mut tx, rx) = futures::channel::mpsc::channel(64);
        let head = match report.strip_suffix(b"0000") {
            Some(head) if sideband => head.to_vec(),
            _ => report.clone(),
        };
        let pushed = updates
            .into_iter()
            .find(|u| u.refname == format!("refs/heads/{branch}"));
        let me = self.clone();
        let creds = creds.clone();
        tokio::spawn(async move {
            // A client that left (or cannot show messages) still gets its push deployed.
            let listening = tx.send(Ok(Bytes::from(head))).await.is_ok() && sideband;
            let Some(update) = pushed else {
                if listening {
                    let _ = tx
                        .send(say(format!(
                            "sh0: stored; app `{}` deploys pushes to `{branch}`",
                            app.name
                        )))
                        .await;
                    let _ = tx.send(Ok(Bytes::from_static(b"0000"))).await;
                }
                return;
            };
            if !listening {
                drop(tx);
                let args = json!({ "app": app.id, "commit": update.new });
                if let Err(e) = me.dispatch(&creds, Adapter::Git, "app_deploy", args).await {
                    tracing::info!(app = %app.name, error = %e.message, "a push did not deploy");
                }
                return;
            }
            let args = json!({ "app": app.id, "commit": update.new });
            match me.dispatch(&creds, Adapter::Git, "app_deploy", args).await {
                Ok(out) => {
                    let _ = tx
                        .send(say(format!(
                            "sh0: deploying {} to app `{}`",
                            update.new.short(),
                            app.name
                        )))
                        .await;
                    me.follow(&out, &mut tx).await;
                }
                Err(e) => {
                    let _ = tx.send(say(format!("sh0: could not deploy: {}", e.message))).await;
                }
            }
            let _ = tx.send(Ok(Bytes::from_static(b"0000"))).await;
        });
        Ok(rx)
    }

    /// Sends the deployment's log lines until it ends, then how it ended.
    async fn follow(&self, out: &Value, tx: &mut futures::channel::mpsc::Sender<Result<Bytes, std::io::Error>>) {
        let store = &self.services().store;
        let Some(dep) = out["deployment_id"]
            .as_str()
            .and_then(|d| DeploymentId::try_from(d.to_owned()).ok())
        else {
            return;
        };
        let mut offset = 0;
        loop {
            let Ok(row) = store.deployment_get(&dep) else { return };
            if let Some(job) = &row.deployment.job
                && let Ok(lines) = store.job_log_read(job, offset, 500)
            {
                for l in lines {
                    offset = l.pos + 1;
                    if tx.send(say(l.line)).await.is_err() {
                        return; // the client left; the deployment goes on
                    }
                }
            }
            if !row.deployment.status.is_active() {
                let end = match row.deployment.status.as_str() {
                    "running" => format!("sh0: deployed: {}", out["url"].as_str().unwrap_or_default()),
                    status => format!(
                        "sh0: deployment {status}: {}",
                        row.deployment
                            .error
                            .unwrap_or_default()
                            .lines()
                            .next()
                            .unwrap_or_default()
                    ),
                };
                let _ = tx.send(say(end)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

//! Continuous reconciliation: sh0 follows what happens to its apps' containers outside
//! its own calls. Docker's event stream says at once when a serving container stops, is
//! OOM-killed, is restarted by its restart policy (on a new host port, after a daemon
//! restart) or is removed by hand; the route follows the container's current address and
//! the app's runtime state says what happened. When the stream drops (a daemon restart),
//! sh0 subscribes again and re-syncs every app from Docker's state; a re-sync also runs
//! every 30 s as a fallback.
//!
//! The watcher never takes a route from a deployment that is being swapped in, nor brings
//! back an app being deleted: it changes a route only if, atomically with the change, the
//! route still serves the app's current deployment (or serves nothing, a 503).

use futures::StreamExt;
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Deployer;
use crate::docker::{ContainerEvent, ContainerState, DockerError};
use crate::domain::{App, AppId, ResourceRef, now_rfc3339};
use crate::proxy::{Target, Upstream};

/// How often everything is re-read from Docker even when no event came.
const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// What an app's serving container is doing, as sh0 last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeState {
    Running,
    /// Docker is restarting it (its restart policy).
    Restarting,
    /// Its process ended and it was not restarted (yet).
    Exited,
    /// The kernel killed it for using more memory than its limit.
    OomKilled,
    /// Its container no longer exists (removed outside sh0).
    Removed,
    /// Docker is not reachable, so sh0 cannot tell.
    Unknown,
}

/// An app's runtime state, what happened, and since when.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AppRuntime {
    pub state: RuntimeState,
    pub detail: String,
    /// RFC 3339, UTC.
    pub since: String,
}

impl Deployer {
    /// What sh0 last saw of the app's serving container (none before the first look).
    pub fn runtime_of(&self, app: &AppId) -> Option<AppRuntime> {
        self.inner
            .runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(app)
            .cloned()
    }

    fn set_runtime(&self, app: &AppId, state: RuntimeState, detail: impl Into<String>) {
        let mut all = self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner());
        let detail = detail.into();
        let changed = all.get(app).is_none_or(|r| r.state != state || r.detail != detail);
        if changed {
            tracing::info!(app = %app, state = ?state, %detail, "app runtime state");
            all.insert(
                app.clone(),
                AppRuntime {
                    state,
                    detail,
                    since: now_rfc3339(),
                },
            );
        }
    }

    /// Follows Docker until `shutdown`.
    pub async fn watch(self, shutdown: CancellationToken) {
        loop {
            if let Ok(events) = self.docker().container_events(&self.inner.instance).await {
                // Subscribed first, then re-synced: nothing that happens in between is lost.
                self.resync().await;
                let mut events = Box::pin(events);
                let mut tick = tokio::time::interval(RESYNC_EVERY);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        event = events.next() => match event {
                            Some(Ok(e)) => self.on_event(e).await,
                            // The daemon went away: subscribe again when it is back.
                            Some(Err(_)) | None => break,
                        },
                        _ = tick.tick() => self.resync().await,
                    }
                }
            }
            self.mark_all_unknown();
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    fn mark_all_unknown(&self) {
        if let Ok(apps) = self.inner.store.app_list(None) {
            for app in apps.iter().filter(|a| a.current_deployment.is_some()) {
                self.set_runtime(&app.id, RuntimeState::Unknown, "Docker is not reachable");
            }
        }
    }

    /// The app's serving container, when it has one.
    fn serving(&self, app: &App) -> Option<String> {
        let dep = app.current_deployment.as_ref()?;
        self.inner.store.deployment_get(dep).ok()?.container_id
    }

    async fn on_event(&self, e: ContainerEvent) {
        let Some(app) = e
            .app
            .as_ref()
            .and_then(|id| AppId::try_from(id.clone()).ok())
            .and_then(|id| self.inner.store.app_find(&ResourceRef::App(id)).ok())
        else {
            return;
        };
        // Containers of a deployment being built or swapped are the pipeline's business.
        if self.serving(&app).as_deref() != Some(e.container.as_str()) {
            return;
        }
        match e.action.as_str() {
            "start" => self.follow(&app, &e.container).await,
            "die" => {
                let state = self.docker().container_state(&e.container).await.ok().flatten();
                self.exited(&app, state, e.exit_code);
            }
            "oom" => self.set_runtime(
                &app.id,
                RuntimeState::OomKilled,
                "killed for using more memory than its limit",
            ),
            "destroy" => self.removed(&app),
            _ => {}
        }
    }

    /// Re-reads every app's serving container from Docker.
    pub async fn resync(&self) {
        let Ok(apps) = self.inner.store.app_list(None) else {
            return;
        };
        for app in apps {
            let Some(container) = self.serving(&app) else {
                continue;
            };
            match self.docker().container_state(&container).await {
                Ok(None) => self.removed(&app),
                Ok(Some(s)) if s.running => self.follow(&app, &container).await,
                Ok(Some(s)) => self.exited(&app, Some(s.clone()), s.exit_code),
                Err(DockerError::Unreachable(_)) => {
                    self.set_runtime(&app.id, RuntimeState::Unknown, "Docker is not reachable");
                }
                Err(e) => tracing::debug!(app = %app.name, error = %e, "could not inspect the serving container"),
            }
        }
    }

    /// The serving container runs: the route goes to its current address.
    async fn follow(&self, app: &App, container: &str) {
        if app.stopped {
            // Stopped by a user: `app_start` routes it once it is healthy.
            return;
        }
        let Ok(addr) = self.docker().host_port(container, app.port.unwrap_or(80)).await else {
            return;
        };
        let Some(deployment) = app.current_deployment.as_ref().map(|d| d.to_string()) else {
            return;
        };
        let target = Target::Up(Arc::new(Upstream {
            app: app.name.to_string(),
            deployment: deployment.clone(),
            addr,
        }));
        let moved = self.routes().set_if(
            app.name.as_str(),
            |current| match current {
                Target::Up(u) => u.deployment == deployment && u.addr != addr,
                Target::Unavailable { .. } => true,
            },
            target,
        );
        if moved {
            tracing::info!(app = %app.name, %addr, "the serving container is back: routed to its address");
        }
        self.set_runtime(&app.id, RuntimeState::Running, "running");
    }

    /// The serving container is not running: the app answers 503 (not a 502 from a dead
    /// address) until it runs again.
    fn exited(&self, app: &App, state: Option<ContainerState>, code: Option<i64>) {
        self.unroute(app);
        let state = state.unwrap_or(ContainerState {
            running: false,
            restarting: false,
            oom_killed: false,
            exit_code: code,
            restart_count: 0,
        });
        let code = state.exit_code.or(code).map_or("unknown".into(), |c| c.to_string());
        if state.oom_killed {
            self.set_runtime(
                &app.id,
                RuntimeState::OomKilled,
                format!("killed for using more memory than its limit (exit code {code})"),
            );
        } else if state.restarting {
            self.set_runtime(
                &app.id,
                RuntimeState::Restarting,
                format!("exited with code {code}; Docker is restarting it"),
            );
        } else {
            self.set_runtime(&app.id, RuntimeState::Exited, format!("exited with code {code}"));
        }
    }

    fn removed(&self, app: &App) {
        self.unroute(app);
        self.set_runtime(
            &app.id,
            RuntimeState::Removed,
            "its container was removed outside sh0: deploy it again (app_deploy) or roll back (app_rollback)",
        );
    }

    /// Takes the app's route off its serving container (never off a deployment being
    /// swapped in).
    fn unroute(&self, app: &App) {
        let Some(deployment) = app.current_deployment.as_ref().map(|d| d.to_string()) else {
            return;
        };
        self.routes().set_if(
            app.name.as_str(),
            |current| matches!(current, Target::Up(u) if u.deployment == deployment),
            Target::Unavailable {
                app: app.name.to_string(),
            },
        );
    }
}

//! The engine's side of diagnosis: gathering the facts the analyzer reads
//! (`domain::diagnosis`). For a failed deployment they are gathered once, when it fails and
//! before its container is removed, then stored with the report; a running deployment is
//! looked at live (its container, sockets, log and one health request), for an app that
//! crashes or misbehaves after its swap.

use std::time::Duration;

use super::{DeployError, Deployer};
use crate::domain::diagnosis::{
    ConfigSnapshot, ContainerFacts, DeploymentFacts, Diagnosis, FailedStage, HealthAnswer, HealthFacts, analyze,
};
use crate::domain::{App, AppId, DeploymentId, DeploymentStatus, ResourceRef, Timestamp};
use crate::jobs::JobHandle;

/// Log lines kept as facts, from the end.
const LOG_LINES: usize = 60;

/// The settings a deployment runs with; `env` holds `KEY=value` pairs of which only the
/// names are kept.
pub(super) fn facts_of(app: &App, image: Option<&str>, env: &[String]) -> DeploymentFacts {
    DeploymentFacts {
        config: ConfigSnapshot {
            image: image.map(str::to_owned),
            port: app.port.unwrap_or(80),
            health_path: app.health.path.clone(),
            memory_mb: app.memory_mb,
            env_names: env
                .iter()
                .map(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k).to_owned())
                .collect(),
        },
        ..Default::default()
    }
}

/// A container log line without Docker's timestamp and terminal colours.
fn clean(line: &str) -> String {
    let text = match line.split_once(' ') {
        Some((ts, rest)) if ts.len() > 20 && ts.ends_with('Z') && ts.as_bytes()[4] == b'-' => rest,
        _ => line,
    };
    String::from_utf8_lossy(&strip_ansi_escapes::strip(text)).into_owned()
}

/// The exit code of a process ended by SIGKILL (the kernel's OOM killer sends it).
const SIGKILL_EXIT: i64 = 137;
/// How many times (100 ms apart) a SIGKILL exit is inspected again for Docker's OOM flag.
const OOM_EVENT_POLLS: usize = 15;

/// What Docker says of a container now: its end, its sockets when it runs, its last lines.
async fn container_facts(d: &Deployer, container: &str) -> (Option<ContainerFacts>, Vec<String>) {
    let docker = d.docker();
    let Ok(Some(mut state)) = docker.container_state(container).await else {
        return (None, Vec::new());
    };
    // Docker records `OOMKilled` from the runtime's OOM event, which under cgroup v2 can
    // arrive after the exit it caused: a SIGKILL exit is asked again for a moment before
    // it is taken as a plain kill.
    for _ in 0..OOM_EVENT_POLLS {
        if state.running || state.oom_killed || state.exit_code != Some(SIGKILL_EXIT) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        match docker.container_state(container).await {
            Ok(Some(again)) => state = again,
            _ => break,
        }
    }
    let listening = if state.running {
        docker.listening(container).await.ok()
    } else {
        None
    };
    let log = docker
        .logs(container, LOG_LINES as u32, None)
        .await
        .map(|lines| lines.iter().map(|l| clean(l)).collect())
        .unwrap_or_default();
    let facts = ContainerFacts {
        running: state.running,
        exit_code: (!state.running).then_some(state.exit_code).flatten(),
        oom_killed: state.oom_killed,
        restart_count: state.restart_count,
        listening,
    };
    (Some(facts), log)
}

fn job_tail(d: &Deployer, job: &crate::domain::JobId) -> Vec<String> {
    d.inner
        .store
        .job_log_read(job, 0, 100_000)
        .map(|lines| {
            let n = lines.len().saturating_sub(LOG_LINES);
            lines[n..].iter().map(|l| l.line.clone()).collect()
        })
        .unwrap_or_default()
}

impl Deployer {
    /// The settings of an app as a deployment of it would run now (for one that failed
    /// before its container was made).
    fn current_facts(&self, app: &App, image: Option<&str>) -> DeploymentFacts {
        let names: Vec<String> = self
            .inner
            .store
            .env_list(&app.id)
            .map(|vars| vars.into_iter().map(|v| v.key.to_string()).collect())
            .unwrap_or_default();
        facts_of(app, image, &names)
    }

    fn report(&self, app: &App, id: &DeploymentId, status: DeploymentStatus, facts: &DeploymentFacts) -> Diagnosis {
        let previous = self.inner.store.deployment_last_good_config(&app.id, id).ok().flatten();
        analyze(
            id,
            app.name.as_str(),
            status,
            facts,
            previous.as_ref(),
            Timestamp::now(),
        )
    }

    /// Diagnoses a deployment: a finished one from the facts stored when it ended, the
    /// serving one live.
    pub async fn diagnose(&self, id: &DeploymentId) -> Result<Diagnosis, DeployError> {
        let row = self.inner.store.deployment_get(id)?;
        let dep = &row.deployment;
        let app = self.app(&dep.app_id)?;
        if dep.status.is_active() {
            return Err(DeployError::Conflict(format!(
                "deployment `{id}` is still {}: diagnose it once it ends (deployment_get follows it)",
                dep.status.as_str()
            )));
        }
        if dep.status == DeploymentStatus::Running
            && let Some(container) = &row.container_id
        {
            return Ok(self.diagnose_live(&app, id, container).await);
        }
        let mut facts = self
            .inner
            .store
            .deployment_facts(id)?
            .unwrap_or_else(|| self.current_facts(&app, dep.image.as_deref()));
        if facts.stage.is_none() && dep.status == DeploymentStatus::Failed {
            // Failed before sh0 kept facts (or by a restart in the middle): its reason is all.
            facts.stage = Some(FailedStage::Other);
            facts.reason = dep.error.clone();
        }
        let mut report = self.report(&app, id, dep.status, &facts);
        // A model's explanation, once made, stays with the report.
        report.explanation = self.inner.store.deployment_diagnosis(id)?.and_then(|d| d.explanation);
        Ok(report)
    }

    /// Diagnoses an app: its newest deployment when that one failed after the serving one
    /// began, otherwise the serving one, live.
    pub async fn diagnose_app(&self, app: &ResourceRef) -> Result<Diagnosis, DeployError> {
        let app = self.inner.store.app_find(app)?;
        let newest = self.inner.store.deployment_list(&app.id, 1)?;
        let Some(newest) = newest.into_iter().next() else {
            return Err(DeployError::NotFound(format!(
                "app `{}` has no deployment to diagnose",
                app.name
            )));
        };
        let id = match &app.current_deployment {
            Some(current) if newest.deployment.status.is_active() => current.clone(),
            Some(current) if newest.deployment.status != DeploymentStatus::Failed => current.clone(),
            _ => newest.deployment.id,
        };
        self.diagnose(&id).await
    }

    async fn diagnose_live(&self, app: &App, id: &DeploymentId, container: &str) -> Diagnosis {
        let mut facts = self
            .inner
            .store
            .deployment_facts(id)
            .ok()
            .flatten()
            .unwrap_or_else(|| self.current_facts(app, None));
        let (c, log) = container_facts(self, container).await;
        facts.app_log = log;
        if let Some(c) = &c
            && c.running
            && let Ok(addr) = self.docker().host_port(container, facts.config.port).await
        {
            facts.health = Some(probe(addr, &app.health).await);
        }
        facts.container = c;
        self.report(app, id, DeploymentStatus::Running, &facts)
    }
}

/// One health request, as the gate makes them.
async fn probe(addr: std::net::SocketAddr, check: &crate::domain::HealthCheck) -> HealthFacts {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(check.timeout_ms.into()))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let last = match client {
        Ok(c) => match c.get(format!("http://{addr}{}", check.path)).send().await {
            Ok(r) => Some(HealthAnswer::Status {
                code: r.status().as_u16(),
            }),
            Err(e) if e.is_timeout() => Some(HealthAnswer::TimedOut),
            Err(_) => Some(HealthAnswer::NoConnection),
        },
        Err(_) => None,
    };
    HealthFacts {
        path: check.path.clone(),
        last,
        attempts: 1,
        container_exited: false,
    }
}

/// Gathers what sh0 saw of a failed deployment, analyzes it, and stores both; the job's
/// log ends with the report's summary. Never fails the caller: a diagnosis that cannot be
/// made is logged.
pub(super) async fn record_failure(
    d: &Deployer,
    id: &DeploymentId,
    app: &AppId,
    container: Option<&str>,
    (stage, reason, health): (FailedStage, String, Option<HealthFacts>),
    job: &JobHandle,
) {
    let Ok(app) = d.app(app) else { return };
    let store = &d.inner.store;
    let mut facts = match store.deployment_facts(id) {
        Ok(Some(f)) => f,
        _ => d.current_facts(&app, None),
    };
    facts.stage = Some(stage);
    facts.reason = Some(reason);
    facts.health = health;
    if let Some(c) = container {
        let (c, log) = container_facts(d, c).await;
        facts.container = c;
        facts.app_log = log;
    }
    facts.build_log = job_tail(d, job.id());
    let report = d.report(&app, id, DeploymentStatus::Failed, &facts);
    job.log(format!("diagnosis: {}", report.summary));
    if let Err(e) = store
        .deployment_set_facts(id, &facts)
        .and_then(|()| store.deployment_set_diagnosis(id, &report))
    {
        tracing::warn!(deployment = %id, error = %e, "could not store the diagnosis");
    }
}

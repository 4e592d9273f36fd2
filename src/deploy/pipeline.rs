//! One deployment, start to finish. Every exit path ends in a final status with a
//! readable reason, and a failed or cancelled deployment never touches the route of the
//! version that is serving.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::health::{HealthOutcome, wait_healthy};
use super::{DeployError, Deployer, diagnose};
use crate::auth::env_context;
use crate::docker::{BuildEvent, ContainerSpec, DockerError};
use crate::domain::diagnosis::{FailedStage, HealthFacts};
use crate::domain::{App, AppId, Deployment, DeploymentStatus, JobStatus, RestartPolicy, SourceKind};
use crate::jobs::JobHandle;
use crate::proxy::{Target, Upstream, table::drain};

enum Failure {
    /// Where it stopped, why, and what the health gate saw when it stopped there.
    Failed(FailedStage, String, Option<HealthFacts>),
    Cancelled,
}

impl Failure {
    fn at(stage: FailedStage, reason: impl Into<String>) -> Self {
        Failure::Failed(stage, reason.into(), None)
    }
}

impl From<DeployError> for Failure {
    fn from(e: DeployError) -> Self {
        Failure::at(FailedStage::Other, e.to_string())
    }
}

impl From<DockerError> for Failure {
    fn from(e: DockerError) -> Self {
        Failure::at(FailedStage::Other, e.to_string())
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::at(FailedStage::Other, e.to_string())
    }
}

/// Runs the deployment as its job; the job ends with it (succeeded when the new version
/// serves).
pub(super) async fn run(
    d: Deployer,
    dep: Deployment,
    app_id: AppId,
    context: Option<PathBuf>,
    git: Option<super::GitPlan>,
    job: JobHandle,
) {
    use futures::FutureExt;
    let store = d.inner.store.clone();
    // A panic in a step is a failure like any other: the deployment must not stay active
    // (it would block the app's next deployment until a restart).
    let outcome = std::panic::AssertUnwindSafe(steps(&d, &dep, &app_id, context, git, &job))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(Failure::at(
                FailedStage::Other,
                "internal error: the deployment stopped unexpectedly",
            ))
        });
    let (status, reason, failure) = match outcome {
        Ok(()) => (DeploymentStatus::Running, None, None),
        Err(Failure::Cancelled) => (
            DeploymentStatus::Cancelled,
            Some("cancelled by request".to_string()),
            None,
        ),
        Err(Failure::Failed(stage, reason, health)) => (
            DeploymentStatus::Failed,
            Some(reason.clone()),
            Some((stage, reason, health)),
        ),
    };
    if let Some(reason) = &reason {
        let container = store.deployment_get(&dep.id).ok().and_then(|row| row.container_id);
        // What sh0 saw is gathered before the container goes: its end, its sockets, its log.
        if let Some(failure) = failure {
            diagnose::record_failure(&d, &dep.id, &app_id, container.as_deref(), failure, &job).await;
        }
        // A new container that did not make it must not linger.
        if let Some(c) = container {
            d.docker().stop_and_remove(&c, 0).await;
            let _ = store.deployment_set_container(&dep.id, None);
        }
        let tail = store
            .job_log_read(job.id(), 0, 100_000)
            .map(|lines| {
                let n = lines.len().saturating_sub(15);
                lines[n..].iter().map(|l| l.line.clone()).collect::<Vec<_>>().join("\n")
            })
            .unwrap_or_default();
        job.log(format!("{}: {reason}", status.as_str()));
        let message = if tail.is_empty() {
            reason.clone()
        } else {
            format!("{reason}\n--- last log lines ---\n{tail}")
        };
        let _ = store.deployment_set_status(&dep.id, status, Some(&message));
        tracing::info!(deployment = %dep.id, status = status.as_str(), "deployment ended: {reason}");
        let job_status = match status {
            DeploymentStatus::Cancelled => JobStatus::Cancelled,
            _ => JobStatus::Failed,
        };
        job.finish(job_status, Some(reason.as_str()));
    } else {
        job.log("running");
        tracing::info!(deployment = %dep.id, "deployment running");
        job.finish(JobStatus::Succeeded, None);
    }
}

fn set(d: &Deployer, dep: &Deployment, job: &JobHandle, status: DeploymentStatus) -> Result<(), Failure> {
    d.inner.store.deployment_set_status(&dep.id, status, None)?;
    job.log(format!("==> {}", status.as_str()));
    tracing::debug!(deployment = %dep.id, status = status.as_str(), "deployment step");
    Ok(())
}

async fn steps(
    d: &Deployer,
    dep: &Deployment,
    app_id: &AppId,
    context: Option<PathBuf>,
    git: Option<super::GitPlan>,
    job: &JobHandle,
) -> Result<(), Failure> {
    let cancel = job.cancellation();
    let app = d.app(app_id)?;
    let context = match git {
        Some(plan) => Some(fetch_source(d, dep, &app, &plan, job).await?),
        None => context,
    };
    let image = obtain_image(d, dep, &app, context, job).await?;
    if cancel.is_cancelled() {
        return Err(Failure::Cancelled);
    }
    d.inner.store.deployment_set_image(&dep.id, &image)?;

    set(d, dep, job, DeploymentStatus::Starting)?;
    let app = d.app(app_id)?; // settings may have changed during the build
    let project = d
        .inner
        .store
        .project_find(&crate::domain::ResourceRef::Project(app.project_id.clone()))?;
    let network = d.network_name(project.name.as_str());
    d.docker().ensure_network(&network, &d.inner.instance).await?;
    let port = app.port.unwrap_or(80);
    let spec = ContainerSpec {
        name: format!("sh0-{}-{}", app.name, &dep.id.as_str()[4..16]),
        image: image.clone(),
        app_id: app.id.to_string(),
        deployment_id: dep.id.to_string(),
        instance: d.inner.instance.clone(),
        port,
        env: decrypt_env(d, &app)?,
        memory_bytes: app.memory_mb.map(|m| i64::from(m) * 1024 * 1024),
        nano_cpus: app.cpus.map(|c| (c * 1e9) as i64),
        // Not restarted before it passed its health check: a crash stays a crash, with its
        // exit code and OOM kill for the analyzer, instead of a restart loop.
        restart: RestartPolicy::No,
        network,
    };
    d.inner
        .store
        .deployment_set_facts(&dep.id, &diagnose::facts_of(&app, Some(&image), &spec.env))?;
    let container = d
        .docker()
        .run(&spec)
        .await
        .map_err(|e| Failure::at(FailedStage::Start, e.to_string()))?;
    drop(spec); // the decrypted environment goes with it
    d.inner.store.deployment_set_container(&dep.id, Some(&container))?;
    let addr = match d.docker().host_port(&container, port).await {
        Ok(addr) => addr,
        Err(e) => {
            // It ended before its port could be looked up: a crash at start.
            let facts = HealthFacts {
                path: app.health.path.clone(),
                last: None,
                attempts: 0,
                container_exited: true,
            };
            return Err(Failure::Failed(
                FailedStage::Health,
                format!("the container exited at once ({e})"),
                Some(facts),
            ));
        }
    };
    job.log(format!("container {} started, port {port} on {addr}", &container[..12]));

    match wait_healthy(d.docker(), &container, port, addr, &app.health, cancel, |l| job.log(l)).await {
        HealthOutcome::Healthy => {}
        HealthOutcome::Cancelled => return Err(Failure::Cancelled),
        HealthOutcome::Unhealthy(reason, facts) => {
            return Err(Failure::Failed(FailedStage::Health, reason, Some(facts)));
        }
    }
    if cancel.is_cancelled() {
        return Err(Failure::Cancelled);
    }
    // From now on the app's own restart policy applies.
    d.docker()
        .set_restart_policy(&container, app.restart_policy)
        .await
        .map_err(|e| Failure::at(FailedStage::Start, format!("setting the restart policy: {e}")))?;

    // The swap: from here on the new version serves.
    let up = Arc::new(Upstream {
        app: app.name.to_string(),
        deployment: dep.id.to_string(),
        addr,
    });
    let old_upstream = d.routes().set(app.name.as_str(), Target::Up(up));
    let previous = d.app(app_id)?.current_deployment;
    let store = &d.inner.store;
    store.app_set_current(&app.id, Some(&dep.id))?;
    store.app_set_stopped(&app.id, false)?;
    store.deployment_set_status(&dep.id, DeploymentStatus::Running, None)?;
    let old_container = match previous.filter(|p| p != &dep.id) {
        Some(prev) => {
            store.deployment_set_status(&prev, DeploymentStatus::Superseded, None)?;
            let row = store.deployment_get(&prev)?;
            store.deployment_set_container(&prev, None)?;
            row.container_id
        }
        None => None,
    };
    job.log(format!(
        "routing {} to the new version",
        d.routes().default_host(app.name.as_str())
    ));

    // Drain and stop the old version, then clean up, without holding the deployment up.
    let d2 = d.clone();
    let app2 = app.clone();
    tokio::spawn(async move {
        if let Some(old) = old_upstream
            && !drain(old, d2.inner.settings.drain_timeout).await
        {
            tracing::warn!(app = %app2.name, "old version still had requests after the drain timeout");
        }
        if let Some(c) = old_container {
            d2.docker().stop_and_remove(&c, d2.inner.settings.stop_grace_secs).await;
        }
        cleanup(&d2, &app2).await;
    });
    Ok(())
}

async fn obtain_image(
    d: &Deployer,
    dep: &Deployment,
    app: &App,
    context: Option<PathBuf>,
    job: &JobHandle,
) -> Result<String, Failure> {
    let cancel = job.cancellation();
    match dep.source {
        SourceKind::Archive | SourceKind::Git => {
            let context =
                context.ok_or_else(|| Failure::at(FailedStage::Build, "the deployment has no build context"))?;
            set(d, dep, job, DeploymentStatus::Building)?;
            let tag = format!("sh0/{}:{}", app.name, dep.id);
            // No build labels: the classic builder turns each into an extra build step. The
            // tag names app and deployment, and the store maps deployments to images.
            let labels = HashMap::new();
            let (logs, id) = job.log_writer();
            let build = d.docker().build(&context, &tag, &labels, move |BuildEvent::Log(line)| {
                logs.line(&id, line)
            });
            // Dropping the build (on cancel) closes the connection, and the daemon stops it.
            tokio::select! {
                r = build => r.map_err(|e| Failure::at(FailedStage::Build, format!("build failed: {e}")))?,
                _ = cancel.cancelled() => return Err(Failure::Cancelled),
            }
            Ok(tag)
        }
        SourceKind::Image | SourceKind::Previous => {
            let image = dep
                .image
                .clone()
                .ok_or_else(|| Failure::at(FailedStage::Image, "the deployment names no image"))?;
            if !d.docker().image_exists(&image).await? {
                if dep.source == SourceKind::Previous {
                    return Err(Failure::at(
                        FailedStage::Image,
                        format!("the image {image} no longer exists"),
                    ));
                }
                set(d, dep, job, DeploymentStatus::Pulling)?;
                let (logs, id) = job.log_writer();
                tokio::select! {
                    r = d.docker().pull(&image, move |BuildEvent::Log(l)| logs.line(&id, l)) => {
                        r.map_err(|e| Failure::at(FailedStage::Image, e.to_string()))?
                    }
                    _ = cancel.cancelled() => return Err(Failure::Cancelled),
                }
            }
            Ok(image)
        }
    }
}

/// The first step of a git deployment: fetch the commit, record it, keep the context.
async fn fetch_source(
    d: &Deployer,
    dep: &Deployment,
    app: &App,
    plan: &super::GitPlan,
    job: &JobHandle,
) -> Result<PathBuf, Failure> {
    set(d, dep, job, DeploymentStatus::Pulling)?;
    let work = d.builds_dir().join(format!("git-{}", dep.id));
    let fetched = d.fetch_git(app, plan, &work, job).await;
    if job.cancellation().is_cancelled() {
        let _ = std::fs::remove_dir_all(&work);
        return Err(Failure::Cancelled);
    }
    let kept = fetched.and_then(|(tar, commit)| {
        d.inner.store.deployment_set_commit(&dep.id, &commit)?;
        d.keep_source(dep, &tar)
    });
    let _ = std::fs::remove_dir_all(&work);
    kept.map_err(|e| Failure::at(FailedStage::Other, e.to_string()))
}

/// The app's environment as `KEY=value`, decrypted only now, for container creation.
fn decrypt_env(d: &Deployer, app: &App) -> Result<Vec<String>, Failure> {
    d.inner
        .store
        .env_list(&app.id)?
        .into_iter()
        .map(|v| {
            let plain = d
                .inner
                .master_key
                .open(&v.sealed, &env_context(&app.id, &v.key))
                .map_err(|e| Failure::at(FailedStage::Other, format!("environment variable {}: {e}", v.key)))?;
            let value = String::from_utf8(plain)
                .map_err(|_| Failure::at(FailedStage::Other, format!("{} is not UTF-8", v.key)))?;
            Ok(format!("{}={value}", v.key))
        })
        .collect()
}

/// Removes images and kept sources of deployments past the retention count. The serving
/// deployment's image is always kept; images sh0 did not build are never removed.
async fn cleanup(d: &Deployer, app: &App) {
    let Ok(history) = d.inner.store.deployment_list(&app.id, 10_000) else {
        return;
    };
    let current = d.app(&app.id).ok().and_then(|a| a.current_deployment);
    let mut keep_images: Vec<String> = Vec::new();
    let mut kept = 0;
    for row in &history {
        let dep = &row.deployment;
        let is_current = Some(&dep.id) == current.as_ref();
        let retained = is_current || (dep.image.is_some() && kept < d.inner.settings.retention);
        if retained {
            if dep.image.is_some() {
                kept += 1;
                keep_images.extend(dep.image.clone());
            }
            continue;
        }
        if dep.status.is_active() {
            continue;
        }
        if let Some(a) = &row.archive {
            let _ = std::fs::remove_file(a);
            let _ = d.inner.store.deployment_set_archive(&dep.id, None);
        }
        if matches!(dep.source, SourceKind::Archive | SourceKind::Git)
            && let Some(image) = &dep.image
            && !keep_images.contains(image)
        {
            d.docker().remove_image(image).await;
        }
    }
}

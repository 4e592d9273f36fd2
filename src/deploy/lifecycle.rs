//! What tools ask of the engine: deploy, cancel, stop, start, restart, roll back, delete,
//! read logs. Each call either changes things completely or not at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::context::{self, Prepared};
use super::{DeployError, Deployer, pipeline};
use crate::docker::DockerError;
use crate::domain::{
    App, Deployment, DeploymentId, DeploymentStatus, Initiator, JobKind, JobStatus, ResourceRef, SourceKind, Trigger,
    UploadId,
};
use crate::jobs::{JobError, JobSpec};
use crate::proxy::{Target, Upstream};

/// What to deploy.
#[derive(Debug, Clone)]
pub enum Source {
    /// A validated build context (tar with a Dockerfile at its root), from `prepare_upload`.
    Context(PathBuf),
    /// An image reference.
    Image(String),
    /// The image of an earlier deployment.
    Previous(String),
    /// A commit of the app's git source (or pushed to sh0), fetched by the job.
    Git(super::GitPlan),
}

impl Deployer {
    /// Unpacks a staged upload with every guard, makes sure it has a Dockerfile (detecting
    /// the stack and generating one when it has none), and packs the build context. On any
    /// failure nothing of the upload remains. Returns the context and, when sh0 wrote the
    /// Dockerfile, what it detected.
    pub async fn prepare_upload(&self, upload: &UploadId, owner: &str) -> Result<Prepared, DeployError> {
        let staged = self.take_upload(upload, owner, "app_deploy")?;
        let images = match self.base_images() {
            Ok(images) => images,
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                return Err(e);
            }
        };
        let work = self.builds_dir().join(upload.as_str());
        let result = tokio::task::spawn_blocking({
            let (staged, work) = (staged.clone(), work.clone());
            move || context::prepare(&staged, &work, &images)
        })
        .await
        .map_err(|e| DeployError::Io(e.to_string()))?;
        let _ = std::fs::remove_file(&staged);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&work);
        }
        result
    }

    /// Unpacks a staged upload only to run the project health check on it.
    pub async fn check_upload(
        &self,
        upload: &UploadId,
        owner: &str,
    ) -> Result<crate::build::check::Report, DeployError> {
        let staged = self.take_upload(upload, owner, "project_check")?;
        let work = self.builds_dir().join(format!("check-{upload}"));
        let result = tokio::task::spawn_blocking({
            let (staged, work) = (staged.clone(), work.clone());
            move || context::check_upload(&staged, &work)
        })
        .await
        .map_err(|e| DeployError::Io(e.to_string()));
        let _ = std::fs::remove_file(&staged);
        result?
    }

    /// The staged file of `upload` when it is `owner`'s and was admitted for `tool`; an
    /// upload of someone else's answers exactly like one that does not exist.
    fn take_upload(&self, upload: &UploadId, owner: &str, tool: &str) -> Result<std::path::PathBuf, DeployError> {
        self.uploads().take(upload, owner, tool).ok_or_else(|| {
            DeployError::NotFound(format!(
                "upload `{upload}` not found (an upload is used once, by whoever sent it, within an hour)"
            ))
        })
    }

    /// Starts a deployment of `source` for `by`: a job of the runner (409 when one is
    /// running for the app) that runs the pipeline in the background, its log opening with
    /// `note` when there is one. Returns the queued deployment. Every failure after the job
    /// began ends the job (and the deployment, once recorded) failed, with the reason.
    pub async fn deploy(
        &self,
        app: &App,
        source: Source,
        trigger: Trigger,
        by: &Initiator,
        note: Option<String>,
    ) -> Result<Deployment, DeployError> {
        let store = &self.inner.store;
        let (kind, image) = match &source {
            Source::Context(_) => (SourceKind::Archive, None),
            Source::Image(i) => (SourceKind::Image, Some(i.as_str())),
            Source::Previous(i) => (SourceKind::Previous, Some(i.as_str())),
            Source::Git(_) => (SourceKind::Git, None),
        };
        let job = self
            .inner
            .jobs
            .begin(JobSpec {
                kind: JobKind::Deploy,
                target: app.id.as_str(),
                project: Some(&app.project_id),
                by,
            })
            .map_err(|e| match e {
                JobError::Busy { .. } | JobError::Full(_) => DeployError::Conflict(format!(
                    "another deployment of app `{}` is in progress; wait for it to finish or cancel it \
                     (deployment_cancel). {e}",
                    app.name
                )),
                JobError::Store(e) => e.into(),
            });
        let job = match job {
            Ok(j) => j,
            Err(e) => {
                if let Source::Context(tar) = &source {
                    remove_work(tar);
                }
                return Err(e);
            }
        };
        let inserted = store.deployment_insert(&app.id, kind, image, None, trigger, job.id());
        let dep = match inserted {
            Ok(d) => d,
            Err(e) => {
                if let Source::Context(tar) = &source {
                    remove_work(tar);
                }
                let e = DeployError::from(e);
                job.finish(JobStatus::Failed, Some(&e.to_string()));
                return Err(e);
            }
        };
        let (context, git) = match source {
            Source::Git(plan) => (None, Some(plan)),
            Source::Context(tar) => match self.keep_source(&dep, &tar) {
                Ok(kept) => (Some(kept), None),
                Err(e) => {
                    // Nothing runs: the deployment and its job end failed, saying why, and
                    // the app is free for the next deployment.
                    let reason = format!("could not keep the source: {e}");
                    if let Err(se) = store.deployment_set_status(&dep.id, DeploymentStatus::Failed, Some(&reason)) {
                        tracing::error!(deployment = %dep.id, error = %se, "could not record a failed deployment");
                    }
                    job.finish(JobStatus::Failed, Some(&reason));
                    return Err(e);
                }
            },
            _ => (None, None),
        };
        job.log(format!(
            "deployment {} queued ({}, by {})",
            dep.id,
            trigger.as_str(),
            by.principal
        ));
        if let Some(note) = note {
            job.log(note);
        }
        tokio::spawn(pipeline::run(
            self.clone(),
            dep.clone(),
            app.id.clone(),
            context,
            git,
            job,
        ));
        Ok(dep)
    }

    /// Moves a validated build context to where the deployment's source is kept (for
    /// redeploys and rollbacks) and records it.
    pub(super) fn keep_source(&self, dep: &Deployment, tar: &Path) -> Result<PathBuf, DeployError> {
        let kept = self.archives_dir().join(format!("{}.tar", dep.id));
        let moved = super::private_dir(&self.archives_dir()).and_then(|_| std::fs::rename(tar, &kept));
        remove_work(tar);
        moved.map_err(|e| DeployError::Io(e.to_string()))?;
        self.inner
            .store
            .deployment_set_archive(&dep.id, Some(&kept.to_string_lossy()))?;
        Ok(kept)
    }

    /// Redeploys the app's current source: the head of its git branch, its image
    /// reference, or the newest archive.
    pub async fn redeploy(&self, app: &App, trigger: Trigger, by: &Initiator) -> Result<Deployment, DeployError> {
        if self.inner.store.git_source_get(&app.id)?.is_some() {
            return self
                .deploy(app, Source::Git(super::GitPlan::default()), trigger, by, None)
                .await;
        }
        if let Some(image) = &app.image {
            return self.deploy(app, Source::Image(image.clone()), trigger, by, None).await;
        }
        let latest = self
            .inner
            .store
            .deployment_list(&app.id, 50)?
            .into_iter()
            .find_map(|d| d.archive);
        let Some(archive) = latest.filter(|a| Path::new(a).is_file()) else {
            return Err(DeployError::Conflict(format!(
                "app `{}` has no source to redeploy: upload one (sh0 push) or set an image",
                app.name
            )));
        };
        let work = self
            .builds_dir()
            .join(format!("redeploy-{}", uuid::Uuid::now_v7().simple()));
        super::private_dir(&work).map_err(|e| DeployError::Io(e.to_string()))?;
        let tar = work.join("context.tar");
        std::fs::hard_link(&archive, &tar)
            .or_else(|_| std::fs::copy(&archive, &tar).map(|_| ()))
            .map_err(|e| DeployError::Io(e.to_string()))?;
        self.deploy(app, Source::Context(tar), trigger, by, None).await
    }

    /// Redeploys the image of `target` (default: the newest deployment before the current
    /// one that ran successfully), health-gated like any deployment.
    pub async fn rollback(
        &self,
        app: &App,
        target: Option<&DeploymentId>,
        by: &Initiator,
    ) -> Result<Deployment, DeployError> {
        let history = self.inner.store.deployment_list(&app.id, 200)?;
        let chosen = match target {
            Some(id) => history
                .iter()
                .find(|d| &d.deployment.id == id)
                .ok_or_else(|| DeployError::NotFound(format!("deployment `{id}` of app `{}` not found", app.name)))?,
            None => history
                .iter()
                .filter(|d| Some(&d.deployment.id) != app.current_deployment.as_ref())
                .find(|d| d.deployment.status == DeploymentStatus::Superseded)
                .ok_or_else(|| {
                    DeployError::Conflict(format!("app `{}` has no earlier deployment to roll back to", app.name))
                })?,
        };
        let image = chosen.deployment.image.clone().ok_or_else(|| {
            DeployError::Conflict(format!("deployment {} never produced an image", chosen.deployment.id))
        })?;
        if !self.docker().image_exists(&image).await? {
            return Err(DeployError::Conflict(format!(
                "the image of deployment {} was cleaned up; only the last {} deployments can be rolled back to",
                chosen.deployment.id, self.inner.settings.retention
            )));
        }
        self.deploy(app, Source::Previous(image), Trigger::Rollback, by, None)
            .await
    }

    /// Cancels an active deployment (its job); the previous version keeps serving.
    pub fn cancel(&self, id: &DeploymentId) -> Result<bool, DeployError> {
        let row = self.inner.store.deployment_get(id)?;
        Ok(row.deployment.status.is_active() && row.deployment.job.is_some_and(|j| self.inner.jobs.cancel(&j)))
    }

    /// Takes the app out of the proxy (503) and stops its container, keeping it for `start`.
    pub async fn stop(&self, app: &App) -> Result<(), DeployError> {
        let container = self.current_container(app)?;
        self.inner.store.app_set_stopped(&app.id, true)?;
        self.inner.routes.set(
            app.name.as_str(),
            Target::Unavailable {
                app: app.name.to_string(),
            },
        );
        if let Some(c) = container {
            self.docker().stop(&c, self.inner.settings.stop_grace_secs).await?;
        }
        Ok(())
    }

    /// Starts a stopped app's container again, health-gated, and routes to it.
    pub async fn start(&self, app: &App) -> Result<(), DeployError> {
        let Some(container) = self.current_container(app)? else {
            return Err(DeployError::Conflict(format!(
                "app `{}` has never been deployed; deploy it first",
                app.name
            )));
        };
        let port = app.port.unwrap_or(80);
        self.docker().start(&container).await?;
        let addr = self.docker().host_port(&container, port).await?;
        let cancel = tokio_util::sync::CancellationToken::new();
        match super::health::wait_healthy(self.docker(), &container, port, addr, &app.health, &cancel, |_| {}).await {
            super::health::HealthOutcome::Healthy => {}
            other => {
                return Err(DeployError::Conflict(format!(
                    "the app did not become healthy: {other:?}"
                )));
            }
        }
        let deployment = app
            .current_deployment
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        let up = Arc::new(Upstream {
            app: app.name.to_string(),
            deployment,
            addr,
        });
        self.inner.routes.set(app.name.as_str(), Target::Up(up));
        self.inner.store.app_set_stopped(&app.id, false)?;
        Ok(())
    }

    fn current_container(&self, app: &App) -> Result<Option<String>, DeployError> {
        Ok(match &app.current_deployment {
            Some(d) => self.inner.store.deployment_get(d)?.container_id,
            None => None,
        })
    }

    /// The app's container output.
    pub async fn app_logs(&self, app: &App, tail: u32, since: Option<i64>) -> Result<Vec<String>, DeployError> {
        let Some(container) = self.current_container(app)? else {
            return Err(DeployError::Conflict(format!(
                "app `{}` has no running deployment",
                app.name
            )));
        };
        Ok(self.docker().logs(&container, tail, since).await?)
    }

    /// A new app: its host answers 503 until the first deployment is healthy.
    pub fn app_created(&self, app: &App) {
        self.inner.routes.set(
            app.name.as_str(),
            Target::Unavailable {
                app: app.name.to_string(),
            },
        );
    }

    /// Before an app's record is deleted: cancels its deployment, removes its route, its
    /// containers, the images sh0 built for it and its kept sources.
    pub async fn app_removed(&self, app: &App) -> Result<(), DeployError> {
        if let Some(active) = self.inner.store.deployment_active(&app.id)? {
            self.cancel(&active.id)?;
        }
        self.inner.routes.remove(app.name.as_str());
        let containers = match self.docker().list_managed(&self.inner.instance).await {
            Ok(c) => c,
            // No Docker: no container of this app can be running either way.
            Err(DockerError::Unreachable(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for c in containers.into_iter().filter(|c| c.app_id == app.id.as_str()) {
            self.docker()
                .stop_and_remove(&c.id, self.inner.settings.stop_grace_secs)
                .await;
        }
        for d in self.inner.store.deployment_list(&app.id, 10_000)? {
            if matches!(d.deployment.source, SourceKind::Archive | SourceKind::Git)
                && let Some(image) = &d.deployment.image
            {
                self.docker().remove_image(image).await;
            }
            if let Some(a) = d.archive {
                let _ = std::fs::remove_file(a);
            }
        }
        // What git left for the app: its pushed repository and its pinned host keys.
        let _ = std::fs::remove_dir_all(self.push_repo(&app.id).path());
        self.unpin_host_keys(&app.id);
        Ok(())
    }

    /// Resolves an app by id for the pipeline (which only holds ids).
    pub(super) fn app(&self, id: &crate::domain::AppId) -> Result<App, DeployError> {
        Ok(self.inner.store.app_find(&ResourceRef::App(id.clone()))?)
    }
}

/// Removes the per-upload work directory that holds `tar`.
fn remove_work(tar: &Path) {
    if let Some(dir) = tar.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Git deployments: the pipeline's first step for a git source. It fetches the commit —
//! from sh0's own repository of the app when it was pushed there, otherwise from the app's
//! remote with its token or deploy key — records it on the deployment, and turns it into a
//! build context through the same guarded unpacking as an upload.

use std::path::PathBuf;

use super::{DeployError, Deployer};
use crate::domain::{App, AppId, CommitSha, GitBranch, GitCommit};
use crate::git::{FetchSpec, GitError, PushRepo, Remote, Revision};
use crate::jobs::JobHandle;
use crate::store::{deploy_key_setting, token_setting};

/// Which commit a git deployment builds.
#[derive(Debug, Clone, Default)]
pub struct GitPlan {
    /// This commit (pushed to sh0, or fetched from the remote); the branch head when absent.
    pub commit: Option<CommitSha>,
}

impl Deployer {
    /// sh0's own repository of `app`, the one `git push` writes to.
    pub fn push_repo(&self, app: &AppId) -> PushRepo {
        let git = self.inner.data_dir.join("git");
        PushRepo::new(git.join("repos").join(format!("{app}.git")), git.join("home"))
    }

    fn known_hosts(&self, app: &AppId) -> PathBuf {
        self.inner.data_dir.join("git").join("known_hosts").join(app.as_str())
    }

    /// The host keys pinned for the app's SSH remote (`known_hosts` lines), if any.
    pub fn pinned_host_keys(&self, app: &AppId) -> Vec<String> {
        std::fs::read_to_string(self.known_hosts(app))
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Forgets the pinned host keys (the remote changed).
    pub fn unpin_host_keys(&self, app: &AppId) {
        let _ = std::fs::remove_file(self.known_hosts(app));
    }

    /// Generates a deploy key pair in a private work folder.
    pub async fn generate_deploy_key(&self, comment: &str) -> Result<crate::git::DeployKey, DeployError> {
        let work = self.builds_dir().join(format!("key-{}", uuid::Uuid::now_v7().simple()));
        crate::git::generate_deploy_key(&work, comment)
            .await
            .map_err(|e| DeployError::Io(e.to_string()))
    }

    /// Fetches the plan's commit and prepares the build context; returns the context tar
    /// (in `work`, which the caller removes) and the commit.
    pub(super) async fn fetch_git(
        &self,
        app: &App,
        plan: &GitPlan,
        work: &std::path::Path,
        job: &JobHandle,
    ) -> Result<(PathBuf, GitCommit), DeployError> {
        let store = &self.inner.store;
        let source = store.git_source_get(&app.id)?;
        let raw = work.join("source.tar");
        let cancel = job.cancellation();
        let log = |line: String| job.log(line);
        let pushed = self.push_repo(&app.id);
        let local = match &plan.commit {
            Some(sha) if crate::git::has_commit(pushed.path(), sha, &work.join("home")).await => Some(sha),
            _ => None,
        };
        let commit = if let Some(sha) = local {
            job.log(format!("building commit {} pushed to sh0", sha.short()));
            let subdir = source.as_ref().and_then(|s| s.subdir.as_ref());
            crate::git::archive_local(pushed.path(), sha, subdir, &work.join("home"), &raw, cancel).await
        } else {
            let Some(source) = &source else {
                return Err(DeployError::Conflict(format!(
                    "app `{}` has no git repository: set one (app_git_set) or push to sh0",
                    app.name
                )));
            };
            let remote = Remote {
                url: source.url.clone(),
                token: self.open_secret(&token_setting(&app.id))?,
                ssh_key: self.open_secret(&deploy_key_setting(&app.id))?.map(String::into_bytes),
                known_hosts: self.known_hosts(&app.id),
            };
            if remote.url.is_ssh() && remote.ssh_key.is_none() {
                return Err(DeployError::Conflict(format!(
                    "app `{}` clones over SSH but has no deploy key: get one with deploy_key_get and add it to the \
                     repository",
                    app.name
                )));
            }
            let branch: GitBranch = source.branch.clone();
            let revision = match &plan.commit {
                Some(sha) => Revision::Commit {
                    sha: sha.clone(),
                    branch: Some(branch),
                },
                None => Revision::Branch(branch),
            };
            let spec = FetchSpec {
                remote,
                revision,
                subdir: source.subdir.clone(),
                submodules: source.submodules,
            };
            crate::git::fetch_tree(&spec, &work.join("fetch"), &raw, cancel, &log).await
        }
        .map_err(|e| match e {
            GitError::Cancelled => DeployError::Io("cancelled".into()),
            e => DeployError::Io(format!("git: {e}")),
        })?;
        let dockerfile = source
            .as_ref()
            .and_then(|s| s.dockerfile.as_ref())
            .map(|d| d.to_string());
        let images = self.base_images()?;
        let prepared = tokio::task::spawn_blocking({
            let (raw, ctx) = (raw.clone(), work.join("context"));
            move || super::context::prepare_with(&raw, &ctx, &images, dockerfile.as_deref())
        })
        .await
        .map_err(|e| DeployError::Io(e.to_string()))??;
        if let Some(d) = &prepared.generated {
            job.log(format!(
                "detected {}; generated a Dockerfile (port {})",
                d.label(),
                d.port
            ));
            if app.port.is_none() {
                store.app_update(
                    &app.id,
                    &crate::store::AppChanges {
                        port: Some(d.port),
                        ..Default::default()
                    },
                )?;
            }
        }
        Ok((prepared.context, commit))
    }

    /// A sealed setting's value, opened.
    fn open_secret(&self, key: &str) -> Result<Option<String>, DeployError> {
        let Some(value) = self.inner.store.setting_get(key)? else {
            return Ok(None);
        };
        let plain = self
            .inner
            .master_key
            .open_setting(key, &value)
            .map_err(|e| DeployError::Io(format!("{key}: {e}")))?;
        String::from_utf8(plain)
            .map(Some)
            .map_err(|_| DeployError::Io(format!("{key} is not UTF-8")))
    }
}

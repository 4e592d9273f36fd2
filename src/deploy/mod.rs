//! The deploy engine: takes a source (an uploaded archive with a Dockerfile, an image, or
//! an earlier deployment's image), builds it, starts the new container beside the old one,
//! waits for its health check, swaps the proxy route, drains and stops the old container,
//! and cleans up past a retention count. A failure at any step leaves the previous version
//! serving. On start, `reconcile` repairs whatever a crash or restart left behind.

pub mod archive;
mod base_images;
pub mod context;
mod diagnose;
mod git;
mod health;
mod lifecycle;
mod pipeline;
mod reconcile;
pub mod uploads;
mod watch;

pub use base_images::{BASE_IMAGES_SETTING, BaseImageSource, BaseImageView, BaseImagesChange};
pub use context::Prepared;
pub use git::GitPlan;
pub use lifecycle::Source;
pub use uploads::{UploadError, Uploads};
pub use watch::{AppRuntime, RuntimeState};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::MasterKey;
use crate::docker::{DockerClient, DockerError};
use crate::jobs::Jobs;
use crate::proxy::RoutingTable;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    /// No Dockerfile, and none could be generated: the message says why and what to do.
    #[error("the archive has no Dockerfile at its root and sh0 cannot generate one: {0}")]
    NoDockerfile(String),
    #[error("{0}")]
    Conflict(String),
    /// A request the engine refuses as given (e.g. an unknown base image role).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Io(String),
}

pub use crate::util::private_dir;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    /// How long an old container may keep serving in-flight requests after a swap.
    pub drain_timeout: Duration,
    /// Grace period between SIGTERM and SIGKILL when stopping a container.
    pub stop_grace_secs: i32,
    /// Deployments whose images (and source archives) are kept for rollback.
    pub retention: usize,
    /// Base images of generated Dockerfiles.
    pub base_images: crate::build::BaseImages,
}

impl Default for DeploySettings {
    fn default() -> Self {
        Self {
            drain_timeout: Duration::from_secs(30),
            stop_grace_secs: 10,
            retention: 3,
            base_images: crate::build::BaseImages::default(),
        }
    }
}

struct Inner {
    store: Arc<Store>,
    docker: DockerClient,
    routes: Arc<RoutingTable>,
    master_key: MasterKey,
    /// Each deployment runs as a job: its log, its cancellation, one per app.
    jobs: Jobs,
    /// Where uploads are staged, contexts unpacked and source archives kept.
    data_dir: PathBuf,
    settings: DeploySettings,
    /// This installation's id, on every container it creates.
    instance: String,
    /// Archives waiting for the tool call that consumes them.
    uploads: Uploads,
    /// What each app's serving container is doing, as the watcher last saw it.
    runtime: Mutex<HashMap<crate::domain::AppId, AppRuntime>>,
}

/// The engine's handle; cheap to clone.
#[derive(Clone)]
pub struct Deployer {
    inner: Arc<Inner>,
}

impl Deployer {
    pub fn new(
        store: Arc<Store>,
        docker: DockerClient,
        routes: Arc<RoutingTable>,
        master_key: MasterKey,
        jobs: Jobs,
        data_dir: PathBuf,
        settings: DeploySettings,
    ) -> Result<Self, DeployError> {
        let instance = store.instance_id()?;
        let data_dir_uploads = data_dir.join("uploads");
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                docker,
                routes,
                master_key,
                jobs,
                data_dir,
                settings,
                instance,
                uploads: Uploads::new(data_dir_uploads),
                runtime: Mutex::default(),
            }),
        })
    }

    pub fn routes(&self) -> &Arc<RoutingTable> {
        &self.inner.routes
    }

    pub fn docker(&self) -> &DockerClient {
        &self.inner.docker
    }

    /// The Docker network of a project: `sh0-<project>-<installation>`, so that two sh0
    /// servers sharing a daemon never share (or race to create) a network.
    pub fn network_name(&self, project: &str) -> String {
        crate::docker::project_network(project, &self.inner.instance)
    }

    /// A project was deleted: its network goes too (best effort: a network still in use by
    /// something outside sh0 stays, and is logged).
    pub async fn project_removed(&self, project: &str) {
        if let Err(e) = self.inner.docker.remove_network(&self.network_name(project)).await {
            tracing::warn!(%project, error = %e, "could not remove the project's network");
        }
    }

    /// Archives staged by the upload endpoints, each for one owner and one tool.
    pub fn uploads(&self) -> &Uploads {
        &self.inner.uploads
    }

    fn builds_dir(&self) -> PathBuf {
        self.inner.data_dir.join("builds")
    }

    fn archives_dir(&self) -> PathBuf {
        self.inner.data_dir.join("archives")
    }
}

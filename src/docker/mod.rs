//! Docker, through bollard: the only module that imports it. It talks to the local daemon
//! (`DOCKER_HOST` or `/var/run/docker.sock`) with API version negotiation, and is written
//! for the classic builder (Docker 20.10 / API 1.41 has no BuildKit here).

mod build;
mod containers;
mod events;
mod exec;
mod inspect;
mod services;

pub use build::BuildEvent;
pub use containers::{ContainerSpec, ManagedContainer};
pub use events::{ContainerEvent, ContainerState};
pub use exec::{Exec, ExecChunk, ExecOutput, ExecStream};
pub use services::{LABEL_DATABASE, LABEL_VERIFY, ServiceSpec, ServiceState};

use bollard::Docker;
use tokio::sync::OnceCell;

/// Labels every sh0 container carries.
pub const LABEL_MANAGED: &str = "sh0.managed";
pub const LABEL_APP: &str = "sh0.app";
pub const LABEL_DEPLOYMENT: &str = "sh0.deployment";
/// The sh0 installation that owns a container (see `Store::instance_id`).
pub const LABEL_INSTANCE: &str = "sh0.instance";

#[derive(Debug, Clone, thiserror::Error)]
pub enum DockerError {
    #[error(
        "Docker is not reachable ({0}). Start the Docker daemon (`sudo systemctl start docker`) or point \
         DOCKER_HOST at it, and make sure sh0 may use its socket."
    )]
    Unreachable(String),
    #[error("{0}")]
    Build(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("Docker: {0}")]
    Api(String),
    /// Docker refused the request itself (400): what was asked for is not valid.
    #[error("Docker refused it: {0}")]
    Rejected(String),
}

impl From<bollard::errors::Error> for DockerError {
    fn from(e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError {
                status_code: 404,
                message,
            } => Self::NotFound(message),
            E::DockerResponseServerError {
                status_code: 400,
                message,
            } => Self::Rejected(message),
            E::DockerResponseServerError { message, .. } => Self::Api(message),
            E::HyperResponseError { .. } | E::IOError { .. } | E::RequestTimeoutError => {
                Self::Unreachable(e.to_string())
            }
            other => Self::Api(other.to_string()),
        }
    }
}

/// The Docker network of a project: `sh0-<project>-<installation>`, so that two sh0
/// servers sharing a daemon never share (or race to create) a network. Apps and databases
/// of a project meet on it.
pub fn project_network(project: &str, instance: &str) -> String {
    format!("sh0-{project}-{}", &instance[instance.len().saturating_sub(12)..])
}

/// Version facts of the daemon, for `system_info`.
#[derive(Debug, Clone)]
pub struct DaemonInfo {
    pub version: String,
    pub api_version: String,
}

/// A handle on the daemon. Connecting is lazy and retried: sh0 starts (and serves its API)
/// without Docker, and reports Docker's absence as `Unavailable` when a tool needs it.
#[derive(Clone, Default)]
pub struct DockerClient {
    inner: std::sync::Arc<OnceCell<Docker>>,
    /// Held while a network is looked up and created: Docker (API 1.41) lets two networks
    /// share a name, so check-then-create must not interleave.
    networks: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl DockerClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// The connected, version-negotiated client.
    async fn docker(&self) -> Result<&Docker, DockerError> {
        self.inner
            .get_or_try_init(|| async {
                let d = Docker::connect_with_defaults().map_err(|e| DockerError::Unreachable(e.to_string()))?;
                let d = d
                    .negotiate_version()
                    .await
                    .map_err(|e| DockerError::Unreachable(e.to_string()))?;
                d.ping().await.map_err(|e| DockerError::Unreachable(e.to_string()))?;
                Ok(d)
            })
            .await
    }

    pub async fn info(&self) -> Result<DaemonInfo, DockerError> {
        let v = self.docker().await?.version().await?;
        Ok(DaemonInfo {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
        })
    }
}

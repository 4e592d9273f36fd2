//! Containers and networks of apps. Every container sh0 creates is labelled
//! (`sh0.managed`, `sh0.app`, `sh0.deployment`), publishes its port on 127.0.0.1 only with
//! an ephemeral host port, and joins its project's network.

use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::net::SocketAddr;

use crate::domain::RestartPolicy;

use super::{DockerClient, DockerError, LABEL_APP, LABEL_DEPLOYMENT, LABEL_INSTANCE, LABEL_MANAGED};

/// What to run. Its `Debug` leaves the environment out: it holds decrypted secrets.
#[derive(Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub app_id: String,
    pub deployment_id: String,
    /// The owning sh0 installation.
    pub instance: String,
    pub port: u16,
    /// `KEY=value` pairs; decrypted just before this call and dropped after it.
    pub env: Vec<String>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub restart: RestartPolicy,
    pub network: String,
}

impl std::fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("deployment_id", &self.deployment_id)
            .field("port", &self.port)
            .field("env", &format_args!("[{} redacted]", self.env.len()))
            .finish_non_exhaustive()
    }
}

/// A container carrying sh0's labels.
#[derive(Debug, Clone)]
pub struct ManagedContainer {
    pub id: String,
    pub app_id: String,
    pub deployment_id: String,
    pub running: bool,
}

impl DockerClient {
    /// Creates the network `name` if it does not exist. Callers use names unique to their
    /// installation (see `deploy`), and creation is serialized here, so no two networks
    /// ever share a name (which Docker would allow, and then refuse to start containers on).
    pub async fn ensure_network(&self, name: &str, instance: &str) -> Result<(), DockerError> {
        let d = self.docker().await?;
        let _one = self.networks.lock().await;
        if d.inspect_network(name, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
            .is_ok()
        {
            return Ok(());
        }
        let labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_INSTANCE.to_string(), instance.to_string()),
        ]);
        d.create_network(NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".into()),
            labels: Some(labels),
            ..Default::default()
        })
        .await?;
        Ok(())
    }

    /// Removes a network; one that does not exist is already removed.
    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        let d = self.docker().await?;
        match d.remove_network(name).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates and starts a container; returns its id. A container that cannot start is
    /// removed; one that started and ended at once is kept, for what it says about why.
    pub async fn run(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let d = self.docker().await?;
        let port_key = format!("{}/tcp", spec.port);
        let labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_APP.to_string(), spec.app_id.clone()),
            (LABEL_DEPLOYMENT.to_string(), spec.deployment_id.clone()),
            (LABEL_INSTANCE.to_string(), spec.instance.clone()),
        ]);
        let restart = super::inspect::restart_policy_name(spec.restart);
        let host_config = HostConfig {
            port_bindings: Some(HashMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])),
            memory: spec.memory_bytes,
            // A limit is a limit: no swap beyond it, so running out of memory is an OOM
            // kill that can be diagnosed, not a slow crawl.
            memory_swap: spec.memory_bytes,
            nano_cpus: spec.nano_cpus,
            restart_policy: Some(bollard::models::RestartPolicy {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            network_mode: Some(spec.network.clone()),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            labels: Some(labels),
            exposed_ports: Some(vec![port_key.clone()]),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let id = d.create_container(Some(options), body).await?.id;
        if let Err(e) = d
            .start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
        {
            self.remove(&id).await;
            return Err(e.into());
        }
        Ok(id)
    }

    /// The loopback address the container's `port` is published on, if it is running.
    pub async fn host_port(&self, id: &str, port: u16) -> Result<SocketAddr, DockerError> {
        let d = self.docker().await?;
        let info = d
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await?;
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if !running {
            return Err(DockerError::Api(format!("container {} is not running", short(id))));
        }
        let binding = info
            .network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{port}/tcp")).cloned().flatten())
            .and_then(|b| b.into_iter().next())
            .and_then(|b| b.host_port)
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| DockerError::Api(format!("container {} publishes no port {port}", short(id))))?;
        Ok(SocketAddr::from(([127, 0, 0, 1], binding)))
    }

    /// Stops a container (SIGTERM, then SIGKILL after `grace_secs`), keeping it.
    pub async fn stop(&self, id: &str, grace_secs: i32) -> Result<(), DockerError> {
        let d = self.docker().await?;
        match d
            .stop_container(id, Some(StopContainerOptionsBuilder::default().t(grace_secs).build()))
            .await
        {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts an existing container.
    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        let d = self.docker().await?;
        match d
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops (SIGTERM, then SIGKILL after `grace_secs`) and removes a container. Errors are
    /// logged: a container that is already gone is what we wanted.
    pub async fn stop_and_remove(&self, id: &str, grace_secs: i32) {
        if let Ok(d) = self.docker().await {
            let _ = d
                .stop_container(id, Some(StopContainerOptionsBuilder::default().t(grace_secs).build()))
                .await;
        }
        self.remove(id).await;
    }

    /// Removes a container with its anonymous volumes (an image's `VOLUME`s: a database
    /// image's data directory, for one, which on a throw-away verification server holds a
    /// plaintext copy of a backup). Named volumes — a database's data — are never removed
    /// here.
    pub(super) async fn remove(&self, id: &str) {
        if let Ok(d) = self.docker().await
            && let Err(e) = d
                .remove_container(
                    id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).v(true).build()),
                )
                .await
        {
            tracing::debug!(container = short(id), error = %e, "remove container");
        }
    }

    /// Every app container of this sh0 installation (`sh0.managed=true`,
    /// `sh0.instance=<id>`, an `sh0.app` label), running or not.
    pub async fn list_managed(&self, instance: &str) -> Result<Vec<ManagedContainer>, DockerError> {
        let filters = HashMap::from([(
            "label",
            // Apps' containers only: a database's container has no `sh0.app` label.
            vec![
                format!("{LABEL_MANAGED}=true"),
                format!("{LABEL_INSTANCE}={instance}"),
                LABEL_APP.to_string(),
            ],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self.docker().await?.list_containers(Some(options)).await?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                Some(ManagedContainer {
                    id: c.id?,
                    app_id: labels.get(LABEL_APP).cloned().unwrap_or_default(),
                    deployment_id: labels.get(LABEL_DEPLOYMENT).cloned().unwrap_or_default(),
                    running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
                })
            })
            .collect())
    }

    /// The last `tail` lines of a container's output (stdout and stderr), optionally only
    /// those since a Unix time.
    pub async fn logs(&self, id: &str, tail: u32, since: Option<i64>) -> Result<Vec<String>, DockerError> {
        let mut b = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail(&tail.to_string());
        if let Some(s) = since {
            b = b.since(s as i32);
        }
        let mut stream = self.docker().await?.logs(id, Some(b.build()));
        let mut lines = Vec::new();
        while let Some(item) = stream.next().await {
            let chunk = item?.into_bytes();
            let text = String::from_utf8_lossy(&chunk);
            lines.extend(text.lines().map(str::to_owned));
        }
        Ok(lines)
    }
}

pub(super) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

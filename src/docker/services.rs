//! Containers of managed databases. Unlike an app's, a database's container is long-lived
//! (stopped and started, never swapped), keeps its data in a named volume, is reachable on
//! its project's network under the database's name, and publishes no port unless asked.
//! It carries `sh0.database` instead of `sh0.app`, so the app reconciler leaves it alone.

use bollard::models::{ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig, PortBinding};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use std::collections::HashMap;

use super::{DockerClient, DockerError, LABEL_INSTANCE, LABEL_MANAGED};

pub const LABEL_DATABASE: &str = "sh0.database";
/// On the throw-away server that verifies a backup: the backup's id.
pub const LABEL_VERIFY: &str = "sh0.verify";

/// A database's container. Its `Debug` leaves the environment and files out: they hold
/// the password.
pub struct ServiceSpec {
    pub name: String,
    pub image: String,
    /// The label that says what the container is: (`sh0.database`, id) or (`sh0.verify`, backup id).
    pub role: (&'static str, String),
    pub instance: String,
    pub env: Vec<String>,
    /// Replaces the image's command.
    pub cmd: Option<Vec<String>>,
    /// The named volume of its data; `None` for a throw-away server.
    pub volume: Option<String>,
    /// Where the volume is mounted.
    pub data_dir: String,
    /// Its network and the name others reach it by there; `None`: no network at all.
    pub network: Option<(String, String)>,
    pub port: u16,
    /// Publish `port` on this host port, on every interface.
    pub publish: Option<u16>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    /// Docker's health check, exec form (`["CMD", ...]`).
    pub health: Vec<String>,
    /// Files written into the container before it first starts: (directory, name, content).
    pub files: Vec<(String, String, Vec<u8>)>,
}

impl std::fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("publish", &self.publish)
            .finish_non_exhaustive()
    }
}

/// What Docker says of a database's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub id: String,
    pub running: bool,
    /// `starting`, `healthy` or `unhealthy` (Docker's health status), when running.
    pub health: Option<String>,
    /// Set when the container exited: its exit code.
    pub exit_code: Option<i64>,
}

impl DockerClient {
    /// Creates the volume (if new) and the container, writes `files` into it, starts it.
    /// A container that cannot be made or started is removed again; the volume stays
    /// (it may hold data of an earlier container) and is the caller's to remove.
    pub async fn create_service(&self, spec: &ServiceSpec) -> Result<String, DockerError> {
        let d = self.docker().await?;
        let labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_INSTANCE.to_string(), spec.instance.clone()),
            (spec.role.0.to_string(), spec.role.1.clone()),
        ]);
        if let Some(volume) = &spec.volume {
            d.create_volume(bollard::models::VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await?;
        }
        let port_key = format!("{}/tcp", spec.port);
        let port_bindings = spec.publish.map(|p| {
            HashMap::from([(
                port_key.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some(p.to_string()),
                }]),
            )])
        });
        let second = 1_000_000_000i64;
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            cmd: spec.cmd.clone(),
            labels: Some(labels),
            exposed_ports: Some(vec![port_key]),
            healthcheck: Some(HealthConfig {
                test: Some(spec.health.clone()),
                interval: Some(5 * second),
                timeout: Some(5 * second),
                retries: Some(5),
                start_period: Some(60 * second),
                start_interval: Some(second),
            }),
            host_config: Some(HostConfig {
                binds: spec.volume.as_ref().map(|v| vec![format!("{v}:{}", spec.data_dir)]),
                port_bindings,
                memory: spec.memory_bytes,
                memory_swap: spec.memory_bytes,
                nano_cpus: spec.nano_cpus,
                restart_policy: Some(bollard::models::RestartPolicy {
                    name: Some(bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                network_mode: Some(spec.network.as_ref().map_or("none".to_owned(), |(n, _)| n.clone())),
                ..Default::default()
            }),
            networking_config: spec.network.as_ref().map(|(network, alias)| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![alias.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let id = d.create_container(Some(options), body).await?.id;
        let started = async {
            for (dir, name, content) in &spec.files {
                let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                    .path(dir)
                    .build();
                d.upload_to_container(&id, Some(options), bollard::body_full(tar_of(name, content)?.into()))
                    .await?;
            }
            d.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
                .await?;
            Ok::<_, DockerError>(())
        };
        if let Err(e) = started.await {
            self.remove(&id).await;
            return Err(e);
        }
        Ok(id)
    }

    /// The state of the container named `name`, or `None` when there is none.
    pub async fn service_state(&self, name: &str) -> Result<Option<ServiceState>, DockerError> {
        let d = self.docker().await?;
        let info = match d
            .inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
        {
            Ok(i) => i,
            Err(e) => {
                return match DockerError::from(e) {
                    DockerError::NotFound(_) => Ok(None),
                    other => Err(other),
                };
            }
        };
        let state = info.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        Ok(Some(ServiceState {
            id: info.id.unwrap_or_default(),
            running,
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|_| running),
            exit_code: state.exit_code.filter(|_| !running),
        }))
    }

    /// Removes the container named `name` (stopping it first) and, with `volume`, its data.
    pub async fn remove_service(&self, name: &str, volume: Option<&str>, grace_secs: i32) -> Result<(), DockerError> {
        if self.service_state(name).await?.is_some() {
            self.stop_and_remove(name, grace_secs).await;
        }
        if let Some(v) = volume {
            let d = self.docker().await?;
            match d
                .remove_volume(v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
            {
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The names of this installation's containers carrying `label` (any value).
    pub async fn containers_labelled(&self, label: &str, instance: &str) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{LABEL_MANAGED}=true"),
                format!("{LABEL_INSTANCE}={instance}"),
                label.to_string(),
            ],
        )]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self.docker().await?.list_containers(Some(options)).await?;
        Ok(list.into_iter().filter_map(|c| c.id).collect())
    }

    /// Whether a volume exists.
    pub async fn volume_exists(&self, name: &str) -> Result<bool, DockerError> {
        match self.docker().await?.inspect_volume(name).await {
            Ok(_) => Ok(true),
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}

/// A tar holding one file, readable by every user of the container (the database's own
/// user reads it; nothing else runs there).
fn tar_of(name: &str, content: &[u8]) -> Result<Vec<u8>, DockerError> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, content)
        .map_err(|e| DockerError::Api(format!("packing {name}: {e}")))?;
    b.into_inner()
        .map_err(|e| DockerError::Api(format!("packing {name}: {e}")))
}

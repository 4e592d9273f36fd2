//! What happens to sh0's containers outside sh0: Docker's event stream (a container
//! started, died, was OOM-killed, removed) and a container's current state, so that the
//! deploy engine can follow a daemon restart, a restart policy at work or a container
//! removed by hand.

use futures::{Stream, StreamExt};
use std::collections::HashMap;

use super::{DockerClient, DockerError, LABEL_APP, LABEL_INSTANCE, LABEL_MANAGED};

/// One thing that happened to a managed container of this installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    /// Docker's action: `start`, `die`, `oom`, `stop`, `kill`, `destroy`, ...
    pub action: String,
    pub container: String,
    /// The app id the container is labelled with.
    pub app: Option<String>,
    /// For `die`: the process's exit code.
    pub exit_code: Option<i64>,
}

/// A container's state as Docker reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub running: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    pub exit_code: Option<i64>,
    /// Restarts by its restart policy.
    pub restart_count: i64,
}

impl DockerClient {
    /// Events of this installation's managed containers, from now on. The stream ends (or
    /// yields an error) when the daemon goes away; callers subscribe again.
    pub async fn container_events(
        &self,
        instance: &str,
    ) -> Result<impl Stream<Item = Result<ContainerEvent, DockerError>> + use<>, DockerError> {
        let d = self.docker().await?.clone();
        let filters = HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{LABEL_MANAGED}=true"), format!("{LABEL_INSTANCE}={instance}")],
            ),
        ]);
        let options = bollard::query_parameters::EventsOptions {
            filters: Some(filters),
            ..Default::default()
        };
        Ok(d.events(Some(options)).map(|m| {
            let m = m.map_err(DockerError::from)?;
            let actor = m.actor.unwrap_or_default();
            let attributes = actor.attributes.unwrap_or_default();
            Ok(ContainerEvent {
                action: m.action.unwrap_or_default(),
                container: actor.id.unwrap_or_default(),
                app: attributes.get(LABEL_APP).cloned(),
                exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()),
            })
        }))
    }

    /// The container's state, or `None` when it no longer exists.
    pub async fn container_state(&self, id: &str) -> Result<Option<ContainerState>, DockerError> {
        let d = self.docker().await?;
        match d
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
        {
            Ok(info) => {
                let s = info.state.unwrap_or_default();
                Ok(Some(ContainerState {
                    running: s.running.unwrap_or(false),
                    restarting: s.restarting.unwrap_or(false),
                    oom_killed: s.oom_killed.unwrap_or(false),
                    exit_code: s.exit_code,
                    restart_count: info.restart_count.unwrap_or(0),
                }))
            }
            Err(e) => match DockerError::from(e) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }
}

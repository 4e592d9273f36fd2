//! Start-up repair. sh0 may have been killed at any point; before the proxy opens, the
//! store and Docker are brought back in line:
//! - deployments left active are marked failed ("interrupted by restart"; the job runner
//!   has already failed their jobs);
//! - managed containers that no app serves from are removed;
//! - every app is routed again: to its serving container (started if it should run and
//!   does not), or to a 503 when it has none.

use std::sync::Arc;

use super::{DeployError, Deployer};
use crate::docker::DockerError;
use crate::domain::DeploymentStatus;
use crate::proxy::{Target, Upstream};

impl Deployer {
    pub async fn reconcile(&self) -> Result<(), DeployError> {
        // Leftover work areas of interrupted uploads and builds.
        let _ = std::fs::remove_dir_all(self.builds_dir());
        let _ = std::fs::remove_dir_all(self.uploads().dir());
        for dir in [
            self.builds_dir(),
            self.uploads().dir().to_path_buf(),
            self.archives_dir(),
        ] {
            use std::os::unix::fs::PermissionsExt;
            super::private_dir(&dir)
                .and_then(|_| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)))
                .map_err(|e| DeployError::Io(format!("{}: {e}", dir.display())))?;
        }
        let store = &self.inner.store;
        for row in store.deployments_active_all()? {
            let id = &row.deployment.id;
            store.deployment_set_status(id, DeploymentStatus::Failed, Some("interrupted by restart"))?;
            tracing::warn!(deployment = %id, "deployment interrupted by restart");
        }
        let apps = store.app_list(None)?;
        for app in &apps {
            self.routes().set(
                app.name.as_str(),
                Target::Unavailable {
                    app: app.name.to_string(),
                },
            );
        }
        let containers = match self.docker().list_managed(&self.inner.instance).await {
            Ok(c) => c,
            Err(DockerError::Unreachable(e)) => {
                tracing::warn!("Docker is not reachable at start ({e}); apps answer 503 until it is");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        for c in &containers {
            let serving = apps.iter().find(|a| a.id.as_str() == c.app_id).filter(|a| {
                a.current_deployment
                    .as_ref()
                    .is_some_and(|d| d.as_str() == c.deployment_id)
            });
            let Some(app) = serving else {
                tracing::info!(container = %&c.id[..12], "removing orphan container");
                self.docker().stop_and_remove(&c.id, 0).await;
                continue;
            };
            if app.stopped {
                continue;
            }
            if !c.running
                && let Err(e) = self.docker().start(&c.id).await
            {
                tracing::warn!(app = %app.name, error = %e, "could not start the serving container");
                continue;
            }
            match self.docker().host_port(&c.id, app.port.unwrap_or(80)).await {
                Ok(addr) => {
                    let up = Upstream {
                        app: app.name.to_string(),
                        deployment: c.deployment_id.clone(),
                        addr,
                    };
                    self.routes().set(app.name.as_str(), Target::Up(Arc::new(up)));
                    // The container id may have been cleared by an interrupted swap.
                    if let Ok(dep) = c.deployment_id.clone().try_into() {
                        store.deployment_set_container(&dep, Some(&c.id))?;
                    }
                }
                Err(e) => tracing::warn!(app = %app.name, error = %e, "serving container has no port"),
            }
        }
        Ok(())
    }
}

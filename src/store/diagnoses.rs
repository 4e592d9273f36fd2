//! Each deployment's facts (the settings it ran with and, when it failed, what sh0 saw)
//! and the analyzer's report, as JSON beside the deployment's row: both are read whole
//! and only ever by the deployment's id.

use rusqlite::{OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use super::{Store, StoreError, StoreResult};
use crate::domain::diagnosis::{ConfigSnapshot, DeploymentFacts, Diagnosis};
use crate::domain::{AppId, DeploymentId, DeploymentStatus};

fn to_json<T: Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(text: Option<String>) -> StoreResult<Option<T>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("deployment facts: {e}"))))
        .transpose()
}

impl Store {
    pub fn deployment_set_facts(&self, id: &DeploymentId, facts: &DeploymentFacts) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE deployments SET facts = ?2 WHERE id = ?1",
            params![id.as_str(), to_json(facts)?],
        )?;
        Ok(())
    }

    pub fn deployment_facts(&self, id: &DeploymentId) -> StoreResult<Option<DeploymentFacts>> {
        let text: Option<Option<String>> = self
            .conn()
            .query_row("SELECT facts FROM deployments WHERE id = ?1", [id.as_str()], |r| {
                r.get(0)
            })
            .optional()?;
        from_json(text.flatten())
    }

    pub fn deployment_set_diagnosis(&self, id: &DeploymentId, report: &Diagnosis) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE deployments SET diagnosis = ?2 WHERE id = ?1",
            params![id.as_str(), to_json(report)?],
        )?;
        Ok(())
    }

    pub fn deployment_diagnosis(&self, id: &DeploymentId) -> StoreResult<Option<Diagnosis>> {
        let text: Option<Option<String>> = self
            .conn()
            .query_row("SELECT diagnosis FROM deployments WHERE id = ?1", [id.as_str()], |r| {
                r.get(0)
            })
            .optional()?;
        from_json(text.flatten())
    }

    /// The settings of the app's newest deployment before `before` that ran (serving or
    /// superseded since), for what changed.
    pub fn deployment_last_good_config(
        &self,
        app: &AppId,
        before: &DeploymentId,
    ) -> StoreResult<Option<ConfigSnapshot>> {
        let text: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT facts FROM deployments WHERE app_id = ?1 AND id <> ?2 AND facts IS NOT NULL \
                 AND status IN (?3, ?4) AND created_at <= (SELECT created_at FROM deployments WHERE id = ?2) \
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                params![
                    app.as_str(),
                    before.as_str(),
                    DeploymentStatus::Running.as_str(),
                    DeploymentStatus::Superseded.as_str()
                ],
                |r| r.get(0),
            )
            .optional()?;
        Ok(from_json::<DeploymentFacts>(text.flatten())?.map(|f| f.config))
    }
}
